"""Hostile submissions cannot change any verdict but their own, nor touch the grader.

Every hostile submission of ``tests/faulty/hostile`` is graded in one folder next to
an honest correct one (alice) and an honest buggy one (bob), by the command a course
would run (``conformance check subs/ --quick``), in a process of its own. The honest
rows must be identical to a run of alice and bob alone; each attacker gets ``error``,
``fail``, ``not loaded`` or ``incomplete``, or passes on its merit where its attack was
only on the grader; nothing is written outside the sandboxes, no process of the run is
left, and the grader's exit code and report stand.

These need bubblewrap (``apt-get install bubblewrap``): without it the run is not
sandboxed, and the tests are skipped saying so.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from conformance.running import sandbox
from helpers import ctrl_c_as_in_a_terminal, together

HOSTILE = Path(__file__).parent / "faulty" / "hostile"
HONEST = ("alice.py", "bob.py", "_honest.py")
#: The quick grid's one-layer networks at batch 4 with two activations (a few dozen cases): every
#: attack shows on its first case, so more cases would only cost time.
#: Seconds a call may take: the hanging submission's limit, wide enough that honest ones on a
#: loaded machine never meet it.
TIMEOUT = 10
ARGS = ("--quick", "--depth", "1", "--batch", "4", "--activation", "relu,tanh", "--no-timing",
        "--timeout", str(TIMEOUT), "--require", "bias,float64")

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(sandbox.bubblewrap()[0] is None,
                                 reason=f"no sandbox: {sandbox.bubblewrap()[1]} (apt-get install bubblewrap)")]


def grade(root: Path, *args: str, marker: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``conformance check`` as a course runs it, in its own process, from ``root``."""
    env = os.environ | {"ATTACK_MARKERS": str(root / "markers"), "CONFORMANCE_RUN_MARKER": marker,
                        "GRADER_SECRET_TOKEN": "s3cr3t"}
    command = [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())", "check", *args]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def start_grading(root: Path, *args: str, marker: str) -> subprocess.Popen:
    env = os.environ | {"ATTACK_MARKERS": str(root / "markers"), "CONFORMANCE_RUN_MARKER": marker}
    command = [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())", "check", *args]
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_as_in_a_terminal)


def processes_marked(marker: str) -> list[int]:
    """Every process on the machine whose environment carries the run's marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def targets(report: Path) -> dict[str, dict]:
    return {row["target"]: row for row in csv.DictReader(io.StringIO((report / "targets.csv").read_text()))}


def rows_of(report: Path, target: str) -> pd.DataFrame:
    results = pd.read_csv(report / "results.csv", keep_default_na=False)
    mine = results[results["implementation"] == target].drop(columns="implementation")
    return mine.sort_values(["case", "check", "tensor"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    (root / "markers").mkdir()
    shutil.copytree(HOSTILE, root / "subs", ignore=shutil.ignore_patterns("README.md", "__pycache__"))
    (root / "base").mkdir()
    for name in HONEST:
        shutil.copy(HOSTILE / name, root / "base" / name)
    marker = uuid.uuid4().hex
    before = digest(root / "subs")

    def attacked() -> tuple[subprocess.CompletedProcess, float, list[int]]:
        started = time.perf_counter()
        run = grade(root, "subs", "--out", "report", *ARGS, marker=marker)
        return run, time.perf_counter() - started, processes_marked(marker)

    # the run without the attackers at the same time: the sandbox keeps them out of it too
    (run, seconds, left), baseline = together(
        attacked, lambda: grade(root, "base", "--out", "base_report", *ARGS, marker=uuid.uuid4().hex))
    report_after_run = (root / "report" / "targets.csv").read_text()
    time.sleep(1.0)  # a daemon that survived would rewrite the report meanwhile
    return {"root": root, "run": run, "baseline": baseline, "before": before, "left": left, "seconds": seconds,
            "report_after_run": report_after_run, "targets": targets(root / "report")}


def verdict(graded, name: str) -> dict:
    return graded["targets"][f"subs/{name}.py"]


def errors_of(graded, name: str) -> str:
    results = pd.read_csv(graded["root"] / "report" / "results.csv", keep_default_na=False)
    return " | ".join(results[results["implementation"] == f"subs/{name}.py"]["detail"].unique())


def test_the_grader_finishes_with_its_exit_code_and_a_whole_report(graded):
    run = graded["run"]
    assert run.returncode == 2, run.stderr[-2000:]  # two submissions could not be loaded
    assert "Traceback" not in run.stderr
    assert set(graded["targets"]) == {f"subs/{p.name}" for p in HOSTILE.glob("*.py") if not p.name.startswith("_")}
    for name in ("summary.md", "report.html", "results.csv", "environment.json"):
        assert (graded["root"] / "report" / name).is_file()
    assert not (graded["root"] / "report" / "journal.jsonl").exists()  # a complete run: nothing to resume
    assert "bubblewrap" in (graded["root"] / "report" / "environment.json").read_text()


def test_the_honest_rows_are_the_same_as_without_the_attackers(graded):
    root = graded["root"]
    assert graded["baseline"].returncode == 1, graded["baseline"].stderr[-2000:]  # bob fails
    for name in ("alice", "bob"):
        pd.testing.assert_frame_equal(rows_of(root / "report", f"subs/{name}.py"),
                                      rows_of(root / "base_report", f"base/{name}.py"))
    assert verdict(graded, "alice")["verdict"] == "pass"
    assert verdict(graded, "bob")["verdict"] == "fail"


def test_no_process_of_the_run_is_left(graded):
    assert graded["left"] == []


def test_nothing_is_written_outside_the_sandboxes(graded):
    root = graded["root"]
    assert digest(root / "subs") == graded["before"]
    assert list((root / "markers").iterdir()) == []
    assert not list(root.glob("**/PWNED*")) and not list(Path("/tmp").glob("PWNED*"))
    assert (root / "report" / "targets.csv").read_text() == graded["report_after_run"]
    assert graded["report_after_run"].startswith("target,")


@pytest.mark.parametrize("name, expected, words", [
    ("exit_at_import", "not loaded", "exited with code 0"),
    ("sleep_at_import", "not loaded", "timed out"),
])
def test_code_run_at_import_ends_only_its_own_worker(graded, name, expected, words):
    row = verdict(graded, name)
    assert row["verdict"] == expected and words in row["reason"]


def test_patching_the_suite_at_import_patches_only_its_own_worker(graded):
    assert verdict(graded, "patch_runner")["verdict"] == "fail"


@pytest.mark.parametrize("name", ["atexit_rewrite", "ndarray_subclass", "daemon", "touch_others", "fill_tmp",
                                  "kill_grader", "reads_secrets"])
def test_an_attack_on_the_grader_alone_leaves_a_correct_submission_judged_on_its_merit(graded, name):
    assert verdict(graded, name)["verdict"] == "pass", errors_of(graded, name)


@pytest.mark.parametrize("name, words", [
    ("pickle_on_socket", "the worker sent a malformed reply"),
    ("forged_reply", "the worker sent a malformed reply: an answer to request 999999"),
    ("huge_frame", "bytes of arrays where this request needs at most"),
    ("short_frame", f"timed out after {TIMEOUT} s"),
    ("wrong_shape_reply", "the worker sent a malformed reply: an observation must give"),
    ("padded_reply", "the worker sent a malformed reply: the objective values must be"),
    ("fork_bomb", "skipped after 2 timeouts"),
    ("hangs", "skipped after 2 timeouts"),
])
def test_a_forged_malformed_or_missing_reply_is_an_error_of_that_submission(graded, name, words):
    assert verdict(graded, name)["verdict"] == "error"
    assert words in errors_of(graded, name)


def test_a_pickle_written_to_the_grader_is_never_unpickled(graded):
    assert not list(graded["root"].glob("**/PWNED_pickle"))


def test_a_hanging_submission_costs_two_timeouts_not_one_per_case(graded):
    results = pd.read_csv(graded["root"] / "report" / "results.csv", keep_default_na=False)
    hangs = results[results["implementation"] == "subs/hangs.py"]
    jobs = os.cpu_count() or 1  # each process running cases has its own worker, and its own budget
    assert 2 <= (hangs["detail"] == f"timed out after {TIMEOUT} s").sum() <= 2 * jobs
    cases = hangs["case"].nunique()
    assert cases > 2 * jobs
    assert hangs["detail"].str.startswith("skipped after 2 timeouts").sum() >= cases - 2 * jobs


@pytest.mark.parametrize("name", ["builtin_name", "same_name"])
def test_a_borrowed_name_excuses_nothing_and_merges_nothing(graded, name):
    row = verdict(graded, name)
    assert row["verdict"] == "fail"
    assert verdict(graded, "alice")["verdict"] == "pass"


def test_the_graders_environment_is_not_a_submissions_to_read(graded):
    assert verdict(graded, "reads_secrets")["implementation"] == "secret=none"
    assert "s3cr3t" not in graded["run"].stdout + (graded["root"] / "report" / "results.csv").read_text()


def test_a_name_cannot_forge_console_rows_or_spreadsheet_formulas(graded):
    shown = verdict(graded, "evil_name")["implementation"]
    assert "\n" not in shown and "\x1b" not in shown and not shown.startswith(("=", "+", "-", "@"))
    assert "\x1b" not in graded["run"].stdout
    assert all(not line.startswith("alice  pass") for line in graded["run"].stdout.splitlines())


def test_declaring_the_required_cases_away_is_incomplete_not_a_pass(graded):
    row = verdict(graded, "declares_away")
    assert row["verdict"] == "incomplete"
    assert "required by --require bias,float64" in errors_of(graded, "declares_away")


# ---- a run killed from outside, and one stopped by Ctrl-C or SIGTERM ------------------------

#: A smaller grid still (52 cases), the same for a run and its resumption.
SMALL = ("--quick", "--depth", "1", "--batch", "4")


def _folder_with_a_hang(root: Path) -> None:
    (root / "subs").mkdir()
    (root / "markers").mkdir()
    for name in ("alice.py", "bob.py", "_honest.py", "hangs.py"):
        shutil.copy(HOSTILE / name, root / "subs" / name)


def _wait_for_journal(root: Path, entries: int, process: subprocess.Popen) -> None:
    journal = root / "report" / "journal.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and journal.read_text().count('"done": true') >= entries:
            return
        time.sleep(0.1)
    raise AssertionError(f"the journal never held {entries} finished targets")


def test_a_run_killed_from_outside_keeps_every_finished_target_and_resumes(tmp_path):
    _folder_with_a_hang(tmp_path)
    marker = uuid.uuid4().hex
    # One target after another; the resumed run must use the same limits (they change rows), so
    # hangs gets 5 s per case: its two timeouts leave ample time to kill the run while it hangs.
    process = start_grading(tmp_path, "subs", "--out", "report", *SMALL, "--no-timing", "--timeout", "5",
                            "--jobs", "1", marker=marker)
    _wait_for_journal(tmp_path, 2, process)  # alice and bob are done, hangs is running
    process.kill()
    process.wait()
    time.sleep(0.5)
    assert processes_marked(marker) == []  # the worker died with the grader
    finished = rows_of(tmp_path / "report", "subs/alice.py") if (tmp_path / "report" / "results.csv").exists() else None
    assert finished is None  # killed before any report: only the journal holds the rows
    resumed = grade(tmp_path, "subs", "--out", "report", *SMALL, "--no-timing", "--timeout", "5", "--resume",
                    "--jobs", "1", marker=uuid.uuid4().hex)
    assert resumed.returncode == 1, resumed.stderr[-2000:]
    assert "running 1 implementation" in resumed.stderr  # alice and bob came from the journal
    graded = targets(tmp_path / "report")
    assert [graded[f"subs/{n}.py"]["verdict"] for n in ("alice", "bob", "hangs")] == ["pass", "fail", "error"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_lists_the_unfinished_targets_as_not_run(tmp_path, signum):
    _folder_with_a_hang(tmp_path)
    process = start_grading(tmp_path, "subs", "--out", "report", *SMALL, "--no-timing", "--timeout", "60",
                            "--jobs", "1", marker=uuid.uuid4().hex)
    _wait_for_journal(tmp_path, 2, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    graded = targets(tmp_path / "report")
    assert [graded[f"subs/{n}.py"]["verdict"] for n in ("alice", "bob", "hangs")] == ["pass", "fail", "not run"]
    assert "partial" in (tmp_path / "report" / "summary.md").read_text().lower()
