"""Ctrl-C keeps work: an interrupted ``conformance run`` leaves a report holding the cases that
finished, says how many, and prints no traceback from any process (pool processes included)."""

import os
import re
import signal
import subprocess
import sys
import threading

import pandas as pd
import pytest

from helpers import ctrl_c_as_in_a_terminal

pytestmark = pytest.mark.e2e  # starts the command line and interrupts it


#: A line of progress saying some work is done: an implementation finished, or case runs did.
FINISHED = re.compile(r"^(\S+: .+ — \d+ cases in |[1-9]\d* of \d+ case runs done)")


def _interrupted_once_a_target_finished(process: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C as soon as the progress says some work is done (however loaded the machine, some
    work is kept and most is not: the default grid runs for minutes)."""
    lines: list[str] = []
    one_finished = threading.Event()

    def read() -> None:
        for line in process.stderr:
            lines.append(line)
            if FINISHED.match(line):
                one_finished.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert one_finished.wait(timeout=600), f"no implementation finished: {''.join(lines)[-2000:]}"
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C does: the whole foreground group
    stdout = process.stdout.read()
    process.wait(timeout=120)
    reader.join(timeout=60)
    return stdout, "".join(lines)


@pytest.mark.parametrize("jobs", [pytest.param(1, id="serially"), pytest.param(2, id="over two processes")])
def test_an_interrupted_run_reports_the_cases_that_finished_and_how_many(tmp_path, jobs):
    out = tmp_path / "report"
    process = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--no-timing",
                                "--jobs", str(jobs), "--out", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=ctrl_c_as_in_a_terminal)
    stdout, stderr = _interrupted_once_a_target_finished(process)
    assert process.returncode == 130, f"exit {process.returncode}; stderr: {stderr[-2000:]}"
    assert "Traceback" not in stderr + stdout, f"a traceback was printed: {stderr[-2000:]}"
    said = re.search(r"(\d+) of (\d+) implementation × case pairs", stderr)
    assert said, f"the console does not say how much finished: {stderr[-500:]}"
    results, skipped = pd.read_csv(out / "results.csv"), pd.read_csv(out / "not_applicable.csv")
    pairs = len(results.drop_duplicates(["implementation", "case"])) + int(skipped["cases"].sum())
    assert pairs == int(said[1]), f"the report holds {pairs} pairs, the console says {said[1]}"
    assert 0 < pairs < int(said[2]), f"{pairs} of {said[2]} pairs finished: not an interrupted run with work kept"
    summary = (out / "summary.md").read_text()
    assert "PARTIAL REPORT" in summary and f"{said[1]} of {said[2]}" in summary, summary[:600]
