"""A private copy holds the submission and nothing of anyone else's.

What ``copies.private_copy`` puts in a worker's folder, without starting a worker: the
submission itself; a checked file's own helper modules, but none named like a standard,
installed or suite module; nothing a link reaches outside the submission; no pipe or
device (reading one would hang the grader); nothing past the size bound. Copies are
removed with their worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from conformance.running import copies
from conformance.running.copies import CopyError, private_copy
from conformance.running.targets import load, submission_target

ASSIGNMENT = "from conformance import Adapter\n\nclass A(Adapter):\n    pass\n"


def _names(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "assignment.py").write_text(ASSIGNMENT)
    (tmp_path / "subs").mkdir()
    return tmp_path


def test_a_checked_file_takes_its_own_helpers_and_no_module_named_like_a_library(folder):
    subs = folder / "subs"
    (subs / "alice.py").write_text("import _mine, numpy, resource, conformance\nclass Alice: pass\n")
    for name in ("_mine", "numpy", "resource", "conformance", "_others"):
        (subs / f"{name}.py").write_text("x = 1\n")
    copy = private_copy(load(str(subs / "alice.py")).locator)
    try:
        assert _names(copy.root / "submission") == {"alice.py", "_mine.py"}
        assert Path(copy.locator.where).read_text() == (subs / "alice.py").read_text()
    finally:
        copy.remove()
    assert not copy.root.exists()


def test_a_submission_folder_keeps_its_own_files_and_none_a_link_reaches_outside(folder):
    student = folder / "subs" / "bob"
    student.mkdir()
    (student / "bob.ipynb").write_text("{}")
    (student / "data.csv").write_text("1,2\n")
    (student / "inner.csv").symlink_to("data.csv")
    (folder / "subs" / "alice.ipynb").write_text("alice's work")
    (student / "alice.ipynb").symlink_to(folder / "subs" / "alice.ipynb")
    (student / "secret").symlink_to("/etc")
    os.mkfifo(student / "pipe")
    copy = private_copy(submission_target(folder / "assignment.py", student).locator)
    try:
        assert _names(copy.root / "submission") == {"bob", "bob/bob.ipynb", "bob/data.csv", "bob/inner.csv"}
        assert _names(copy.root / "assignment") == {"assignment.py"}
        assert sorted(copy.notes) == [f"not copied: {student}/alice.ipynb (a symbolic link out of the submission)",
                                      f"not copied: {student}/pipe (not a regular file or folder)",
                                      f"not copied: {student}/secret (a symbolic link out of the submission)"]
    finally:
        copy.remove()


def test_a_submission_larger_than_the_bound_is_not_copied(folder, monkeypatch):
    monkeypatch.setattr(copies, "MAX_BYTES", 1000)
    (folder / "subs" / "big.ipynb").write_bytes(b" " * 2000)
    with pytest.raises(CopyError, match="larger than a submission may be"):
        private_copy(submission_target(folder / "assignment.py", folder / "subs" / "big.ipynb").locator)


def test_a_module_target_is_found_where_it_lives_and_not_copied():
    copy = private_copy(load("tests.faulty.wrong_gradients:DoubledBackward").locator)
    assert copy.root is None and copy.locator.roots == (str(Path(__file__).resolve().parents[1]),)
    assert private_copy(load("reference_numpy").locator).locator.roots == ()


CLASSMATE = ("from conformance.implementations.reference_numpy import ReferenceNumpy\n\n\n"
             "class {name}(ReferenceNumpy):\n    pass\n")


def test_importing_a_classmate_neither_removes_them_nor_copies_their_file(folder):
    from conformance.running.targets import load_all

    subs = folder / "subs"
    (subs / "bob.py").write_text(CLASSMATE.format(name="Bob"))
    (subs / "mallory.py").write_text("from bob import Bob\n\n\nclass Mallory(Bob):\n    pass\n")
    (subs / "_util.py").write_text("SCALE = 1\n")  # a helper module, no adapter: nobody's submission
    listed = load_all([str(subs)])
    assert sorted(Path(t.locator.where).name for t in listed) == ["bob.py", "mallory.py"]
    mallory = next(t for t in listed if t.locator.where.endswith("mallory.py"))
    copy = private_copy(mallory.locator)
    try:
        assert _names(copy.root) == {"submission", "submission/mallory.py"}
    finally:
        copy.remove()


@pytest.mark.e2e
def test_a_submission_importing_a_classmate_gets_nothing_of_theirs_and_their_rows_stand(folder):
    from conformance import api, check
    from tests.faulty.sources import DOUBLED
    from tests.helpers import PINNED, captured, csv

    subs = folder / "subs"
    (subs / "bob.py").write_text(DOUBLED)  # an honest, buggy classmate
    (subs / "alice.py").write_text(CLASSMATE.format(name="Alice"))  # an honest, correct one
    rows = {}
    borrows = "from alice import Alice\n\n\nclass Mallory(Alice):\n    pass\n"  # the correct classmate's class
    for run, attacker in (("without", None), ("with", borrows)):
        if attacker:
            (subs / "mallory.py").write_text(attacker)
        captured(check.command, [str(subs)], out=folder / run, cases=list(PINNED[:3]),
                 options=api.Options(timing=False))
        rows[run] = csv(folder / run, "results.csv")
    targets = csv(folder / "with", "targets.csv").set_index("target")
    assert targets.loc[str(subs / "mallory.py"), "verdict"] in ("not loaded", "error")
    mallory = rows["with"][rows["with"]["implementation"] == str(subs / "mallory.py")]
    assert not (mallory["verdict"] == "pass").any()
    for honest in ("alice.py", "bob.py"):
        mine = [r[r["implementation"] == str(subs / honest)].drop(columns="detail").reset_index(drop=True)
                for r in (rows["without"], rows["with"])]
        assert not mine[0].empty
        pd.testing.assert_frame_equal(*mine)
