"""Ctrl-C keeps work: an interrupted ``conformance run`` leaves a report holding the cases that
finished, says how many, and prints no traceback from any process (pool processes included)."""

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e  # starts the command line and interrupts it


@pytest.mark.parametrize("jobs, seconds", [pytest.param(1, 20, id="serially, 20 s in"),
                                           pytest.param(2, 25, id="over two processes, 25 s in")])
def test_an_interrupted_run_reports_the_cases_that_finished_and_how_many(tmp_path, jobs, seconds):
    out = tmp_path / "report"  # the default grid: minutes, so the run is interrupted mid-way
    process = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--no-timing",
                                "--jobs", str(jobs), "--out", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(seconds)
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C does: the whole foreground group
    stdout, stderr = process.communicate(timeout=120)
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
