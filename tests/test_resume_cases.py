"""An interrupted run resumed with its journal runs only the cases that had not finished,
also of a target it was in the middle of, and ends with the rows of a run never stopped."""

from __future__ import annotations

import pandas as pd
import pytest

from dataclasses import replace

from conformance.api import Options, Progress, run_suite
from conformance.running.journal import Journal
from conformance.running.targets import builtin
from helpers import PINNED

CASES = list(PINNED)
TARGETS = ("reference_numpy", "single_layer_relu")
OPTIONS = Options(isolate=False, timing=False)


class Counted(Progress):
    """Counts the cases run; with ``stop_after``, stops the run there as Ctrl-C would."""

    def __init__(self, stop_after: int | None = None):
        self.ran, self.stop_after = [], stop_after

    def case_done(self, target, case, rows) -> None:
        self.ran.append((target.name, case.id))
        if len(self.ran) == self.stop_after:
            raise KeyboardInterrupt


def _run(folder, progress, resume, jobs=1):
    folder.mkdir(exist_ok=True)
    return run_suite([builtin(name) for name in TARGETS], cases=CASES, options=replace(OPTIONS, jobs=jobs),
                     progress=progress, journal=Journal(folder, "fingerprint"), resume=resume)


def _sorted(report) -> pd.DataFrame:
    table = report.results.astype(str)
    return table.sort_values(list(table.columns)).reset_index(drop=True)


@pytest.mark.parametrize("stop_after, jobs", [
    pytest.param(len(CASES) // 2, 1, id="stopped in the middle of the first target"),
    pytest.param(len(CASES), 1, id="stopped after the first target's last case, before its end was journaled",
                 marks=pytest.mark.e2e),
    pytest.param(len(CASES) + 3, 1, id="stopped in the middle of the second target", marks=pytest.mark.e2e),
    pytest.param(len(CASES), 2, id="over two processes dealt by case, every case of a target journaled but not its end",
                 marks=pytest.mark.e2e),
    pytest.param(len(CASES) // 2 + 1, 2, id="over two processes dealt by case, stopped midway", marks=pytest.mark.e2e),
])
def test_a_resumed_run_runs_only_the_cases_the_stopped_one_did_not_finish(tmp_path, monkeypatch, stop_after, jobs):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    fresh = _run(tmp_path / "fresh", Counted(), resume=False)
    stopped = _run(tmp_path / "run", Counted(stop_after), resume=False, jobs=jobs)
    assert stopped.interrupted
    again = Counted()
    resumed = _run(tmp_path / "run", again, resume=True, jobs=jobs)
    assert len(again.ran) == len(TARGETS) * len(CASES) - stop_after
    assert not resumed.interrupted
    pd.testing.assert_frame_equal(_sorted(resumed), _sorted(fresh))
    assert resumed.not_applicable == fresh.not_applicable


def _check(out, *extra: str) -> int:
    from conformance.cli import main

    return main(["check", "reference_numpy", "--out", str(out), "--no-isolation", "--no-timing", "--widths", "3-4-2",
                 "--batch", "1", "--dtype", "float64", "--loss", "vjp", *extra])


def test_a_complete_run_removes_its_journal_and_resuming_it_says_there_is_nothing_to_resume(tmp_path, monkeypatch,
                                                                                           capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert _check(tmp_path / "run") == 0
    assert (tmp_path / "run" / "results.csv").is_file() and not (tmp_path / "run" / "journal.jsonl").exists()
    capsys.readouterr()
    assert _check(tmp_path / "run", "--resume") == 0
    out, err = capsys.readouterr()
    said = [line for line in err.splitlines() if "--resume" in line]  # after the grid options' own note
    assert out == "" and len(said) == 1 and said[0].startswith("conformance check: --resume: "), err
    assert "nothing to resume" in said[0] and "running" not in err, err


def test_an_interrupted_run_keeps_its_journal_until_a_resumed_run_completes(tmp_path, monkeypatch):
    from conformance import check
    from helpers import captured

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code, _, _ = captured(check.command, list(TARGETS), cases=CASES, out=tmp_path, options=OPTIONS,
                          progress=Counted(len(CASES) // 2))
    assert code == 130 and (tmp_path / "journal.jsonl").is_file()
    again = Counted()
    code, _, _ = captured(check.command, list(TARGETS), cases=CASES, out=tmp_path, options=OPTIONS, progress=again,
                          resume=True)
    assert code != 130 and len(again.ran) == len(TARGETS) * len(CASES) - len(CASES) // 2
    assert not (tmp_path / "journal.jsonl").exists()


def test_a_run_into_an_interrupted_runs_folder_without_resume_starts_afresh(tmp_path, monkeypatch):
    """Without ``--resume`` the stopped run's journal is not read: it is replaced, every case runs."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert _run(tmp_path / "run", Counted(len(CASES) // 2), resume=False).interrupted
    assert (tmp_path / "run" / "journal.jsonl").is_file()
    again = Counted()
    assert not _run(tmp_path / "run", again, resume=False).interrupted
    assert len(again.ran) == len(TARGETS) * len(CASES)
