"""A journal that cannot be forged: ``--resume`` reuses a line only where it may stand.

A graded class (a correct and a buggy notebook), its grader killed once both were journaled,
is resumed after each of: nothing changed; a hand-edited line (fail turned into pass); a
submission replaced by another; the assignment changed; another ``--timeout``; a journal
written under another grader's key. Each line that may not stand is run again and the run
says why; the rows are then those of a fresh run. A run that completes leaves no journal,
and ``--resume`` on its report says there is nothing to resume. Lines whose MAC holds are
still checked like a worker's reply (unit tests below, without a worker).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from conformance.cases.grid import default_grid
from conformance.judge.results import COLUMNS, row
from conformance.running import sandbox
from conformance.running.journal import Journal, Rejected
from conformance.running.loading import Locator
from conformance.running.targets import Target
from integrity_course import (buggy_notebook, conformance, correct_notebook, rows_of, started, targets,
                              write_course)

#: A few cases of the quick grid, for the unit tests.
CASES = default_grid(quick=True)[:3]
#: The seed is pinned: a run and its resumption are compared with a run of their own.
GRADE = ("grade", "assignment.py", "students", "--out", "report", "--quick", "--seed", "0", "--jobs", "1")


def e2e(test):
    sandboxed = pytest.mark.skipif(sandbox.bubblewrap()[0] is None, reason=f"no sandbox: {sandbox.bubblewrap()[1]}")
    return pytest.mark.e2e(sandboxed(test))


# ---- lines checked like a worker's reply ------------------------------------------------------

def _journal(tmp_path: Path, monkeypatch) -> tuple[Journal, Target]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "a.py").write_text("class A: pass\n")
    target = Target("a.py", locator=Locator("file", str(tmp_path / "a.py")))
    journal = Journal(tmp_path, "fingerprint")
    journal.start(False, [target], CASES)
    return journal, target


def _rows(name: str) -> list:
    return [row(name, case, "gradient", "bias[0]", "pass", "|error| 0 within tolerance 1") for case in CASES]


def _record(journal: Journal, target: Target) -> None:
    """The target's cases journaled as they finish, then its end."""
    for index, case_row in enumerate(_rows(target.name)):
        journal.case_done(target.name, index, [case_row])
    journal.record(target.name, {index: [r] for index, r in enumerate(_rows(target.name))})


def _rewrite(tmp_path: Path, journal: Journal, change) -> None:
    """Change the journaled line and sign it again with the grader's key (as a bug would)."""
    from conformance.running.journal import _mac

    first, *rest = (tmp_path / "journal.jsonl").read_text().splitlines()
    entry = json.loads(first)
    change(entry)
    entry["mac"] = _mac(journal._key, entry)
    (tmp_path / "journal.jsonl").write_text("\n".join([json.dumps(entry), *rest]) + "\n")


def test_an_unchanged_line_is_reused(tmp_path, monkeypatch):
    journal, target = _journal(tmp_path, monkeypatch)
    _record(journal, target)
    done = Journal(tmp_path, "fingerprint").start(True, [target], CASES)
    # NaN equals NaN here
    def frame(rows):
        return pd.DataFrame([r.as_dict() for r in rows])
    pd.testing.assert_frame_equal(frame(done[target.name]), frame(_rows(target.name)))


def _set(column: str, value):
    index = COLUMNS.index(column)
    def change(entry):
        entry["rows"][0][index] = value
    return change


@pytest.mark.parametrize("change, words", [
    pytest.param(_set("verdict", "excellent"), "a verdict or check the suite does not give", id="an unknown verdict"),
    pytest.param(_set("implementation", "someone_else.py"), "rows of another target", id="another target's row"),
    pytest.param(_set("case", "1layer-made-up"), "a case this run does not have", id="a case the run lacks"),
    pytest.param(_set("batch", 99), "a case this run does not have", id="a case's field changed"),
    pytest.param(_set("max_abs_error", "0.0"), "an unusable max_abs_error", id="text where a number goes"),
    pytest.param(lambda entry: entry["rows"].pop(), "lacks 1 of the cases it names", id="a case left out"),
    pytest.param(lambda entry: entry["cases"].append(len(CASES)), "cases this run does not have",
                 id="a case position past the run's"),
    pytest.param(lambda entry: entry["skipped"].append(["no tanh", [0]]), "a row of a case it does not name",
                 id="a case both run and not applicable"),
    pytest.param(lambda entry: entry.update(done=1), "not one this suite writes", id="a flag that is not one"),
    pytest.param(lambda entry: entry.update(extra=1), "not one this suite writes", id="an unknown field"),
])
def test_a_signed_line_that_a_reply_could_not_be_is_run_again(tmp_path, monkeypatch, change, words):
    journal, target = _journal(tmp_path, monkeypatch)
    _record(journal, target)
    _rewrite(tmp_path, journal, change)
    resumed = Journal(tmp_path, "fingerprint")
    assert resumed.start(True, [target], CASES) == {}
    assert len(resumed.rejected) == 1 and resumed.rejected[0].startswith("a.py runs again: its journal line")
    assert words in resumed.rejected[0]


def test_a_line_under_another_key_or_edited_by_hand_is_run_again(tmp_path, monkeypatch):
    journal, target = _journal(tmp_path, monkeypatch)
    _record(journal, target)
    line, done = (tmp_path / "journal.jsonl").read_text().splitlines()
    (tmp_path / "journal.jsonl").write_text(line.replace('"pass"', '"fail"', 1) + "\n" + done + "\n")
    resumed = Journal(tmp_path, "fingerprint")
    assert resumed.start(True, [target], CASES) == {}
    assert "was not written by this grader, or was changed since" in resumed.rejected[0]
    with pytest.raises(Rejected):
        resumed._checked(json.loads(line) | {"mac": "0" * 64})


def test_the_finished_cases_of_an_unfinished_target_are_taken_up_again(tmp_path, monkeypatch):
    journal, target = _journal(tmp_path, monkeypatch)
    rows = _rows(target.name)
    journal.case_done(target.name, 0, [rows[0]])
    journal.case_done(target.name, 2, [rows[2]])
    journal.flush()  # and then the run is killed
    resumed = Journal(tmp_path, "fingerprint")
    assert resumed.start(True, [target], CASES) == {}
    taken = {name: {index: list(map(repr, found)) for index, found in cases.items()}
             for name, cases in resumed.partial.items()}
    assert taken == {target.name: {0: [repr(rows[0])], 2: [repr(rows[2])]}} and resumed.rejected == []


def test_cases_that_did_not_apply_are_journaled_as_their_reason_and_come_back_as_their_rows(tmp_path, monkeypatch):
    journal, target = _journal(tmp_path, monkeypatch)
    skipped = [row(target.name, case, "case", "*", "not_applicable", "no tanh hidden activation") for case in CASES]
    journal.record(target.name, {index: [r] for index, r in enumerate(skipped)})
    text = (tmp_path / "journal.jsonl").read_text()
    assert text.count("no tanh hidden activation") == 1
    done = Journal(tmp_path, "fingerprint").start(True, [target], CASES)
    assert list(map(repr, done[target.name])) == list(map(repr, skipped))


# ---- a class resumed ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Course:
    #: The class as its grader left it when killed after journaling both notebooks: no report yet.
    killed: Path
    #: The same resumed to its end: the report, and no journal.
    complete: Path


#: Tries at killing the grader in its window: a grader that wrote its report before the kill
#: landed (the window is the report's writing, a second or so) is graded again from scratch.
KILL_TRIES = 4


def _killed_once_journaled(root: Path) -> None:
    """Grade the class and kill the grader (SIGKILL) once its journal holds both notebooks
    finished, before it has written its report: what ``--resume`` is for."""
    journal = root / "report" / "journal.jsonl"
    for _ in range(KILL_TRIES):
        shutil.rmtree(root / "report", ignore_errors=True)
        process = started(root, *GRADE, "--timeout", "60", state=root / "state")
        deadline = time.monotonic() + 900
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if journal.exists() and journal.read_text().count('"done": true') >= 2:
                    break
                time.sleep(0.05)
        finally:
            process.kill()
            process.wait()
        if journal.exists() and not (root / "report" / "environment.json").exists():
            return
    raise AssertionError(f"the grader was not killed between journaling both notebooks and writing its report "
                         f"in {KILL_TRIES} tries")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    """A class whose grading was killed once both notebooks were journaled; each test resumes a
    copy of it. ``complete`` is a copy resumed to its end."""
    root = tmp_path_factory.mktemp("journaled")
    write_course(root, {"correct.ipynb": correct_notebook(), "buggy.ipynb": buggy_notebook()})
    _killed_once_journaled(root)
    complete = tmp_path_factory.mktemp("complete") / "course"
    shutil.copytree(root, complete, symlinks=True)
    run = conformance(complete, *GRADE, "--timeout", "60", "--resume", state=complete / "state")
    assert run.returncode == 1, run.stderr[-2000:]
    return Course(root, complete)


def _resume(course: Course, tmp_path: Path, change=None, *extra: str, state: str = "state"):
    root = tmp_path / "course"
    shutil.copytree(course.killed, root, symlinks=True)
    if change is not None:
        change(root)
    return root, conformance(root, *GRADE, "--timeout", "60", *extra, "--resume", state=root / state)


def _fail_to_pass(root: Path) -> None:
    journal = root / "report" / "journal.jsonl"
    journal.write_text(journal.read_text().replace('"fail"', '"pass"'))


@e2e
def test_a_class_resumed_unchanged_reuses_every_line(course, tmp_path):
    root, run = _resume(course, tmp_path)
    assert "runs again" not in run.stderr and "running" not in run.stderr, run.stderr[-2000:]
    assert list(targets(root / "report")["verdict"]) == list(targets(course.complete / "report")["verdict"])
    assert not (root / "report" / "journal.jsonl").exists()  # complete now: its rows are in the report


@e2e
def test_resuming_a_complete_run_says_in_one_line_that_there_is_nothing_to_resume(course, tmp_path):
    assert not (course.complete / "report" / "journal.jsonl").exists()
    root = tmp_path / "course"
    shutil.copytree(course.complete, root, symlinks=True)
    run = conformance(root, *GRADE, "--timeout", "60", "--resume", state=root / "state")
    assert run.returncode == 0 and run.stdout == "", run.stderr[-2000:]
    [line] = run.stderr.splitlines()
    assert line.startswith("conformance grade: --resume: ") and "report of a run that completed: nothing to resume" \
        in line, line


@e2e
@pytest.mark.parametrize("change, extra, state, again, words", [
    pytest.param(_fail_to_pass, (), "state", ("buggy",), "was not written by this grader, or was changed since",
                 id="a line edited by hand to turn a fail into a pass"),
    pytest.param(lambda root: shutil.copy(root / "students" / "buggy.ipynb", root / "students" / "correct.ipynb"),
                 (), "state", ("correct",), "the submission changed since it was journaled",
                 id="a submission replaced after the run"),
    pytest.param(lambda root: (root / "assignment.py").write_text((root / "assignment.py").read_text() + "\n# v2\n"),
                 (), "state", ("buggy", "correct"), "the assignment changed since it was journaled",
                 id="the assignment changed after the run"),
    pytest.param(None, ("--timeout", "30"), "state", ("buggy", "correct"),
                 "other cases, seed, options or limits", id="another time limit"),
    pytest.param(None, (), "another_state", ("buggy", "correct"), "was not written by this grader",
                 id="another grader's journal"),
])
def test_a_line_that_may_not_stand_is_run_again_and_said_so(course, tmp_path, change, extra, state, again, words):
    root, run = _resume(course, tmp_path, change, *extra, state=state)
    said = sorted(line for line in run.stderr.splitlines() if "runs again" in line)
    assert len(said) == len(again), run.stderr[-2000:]
    for line, name in zip(said, sorted(again)):
        assert line.startswith(f"conformance grade: --resume: students/{name}.ipynb runs again: ") and words in line
    expected = {"correct": "pass", "buggy": "fail"}
    if change is not None and "correct" in again and len(again) == 1:
        expected["correct"] = "fail"  # it is the buggy notebook now
    sheet = targets(root / "report")
    assert {name: sheet.loc[f"students/{name}.ipynb", "verdict"] for name in expected} == expected
    if "buggy" in again:
        pd.testing.assert_frame_equal(rows_of(root / "report", "students/buggy.ipynb"),
                                      rows_of(course.complete / "report", "students/buggy.ipynb"))
