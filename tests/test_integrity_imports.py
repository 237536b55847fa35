"""What a submission can reach is its own copy and what the instructor hands it.

One property, on a generated course: folders of submissions holding helper files whose
names collide with the standard library (``resource.py``, ``socket.py``), installed
packages (``numpy.py``, ``matplotlib.py``) and the grader's own modules
(``conformance.py``, ``wire.py``, ``worker.py``); the grader started with ``python -m``
in a folder holding such files too, with a ``PYTHONPATH`` entry that shadows a module
the honest students import. Every helper is hostile (importing it ends the process that
does). Every honest row must be the row of a run without any of it, in ``check`` (.py
submissions and their own helper) and in ``grade`` (notebooks that plot), and every
colliding file is listed once as ignored.
"""

from __future__ import annotations

import functools
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from conformance.running import sandbox
from helpers import together
from integrity_course import (CHECK_GRID, HARNESS, conformance, correct_notebook, buggy_notebook, honest_py, rows_of,
                              targets, write_course)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(sandbox.bubblewrap()[0] is None,
                                                  reason=f"no sandbox: {sandbox.bubblewrap()[1]}")]

STDLIB = ("resource", "socket", "struct", "signal", "json", "wave", "colorsys", "selectors", "pickle")
INSTALLED = ("numpy", "matplotlib", "nbformat", "torch", "pandas", "pytest")
GRADERS_OWN = ("conformance", "wire", "worker", "loading", "driver", "sandbox", "isolation", "copies",
               "submission", "notebooks")
#: The honest .py submission that plots and uses the stdlib modules the hostile helpers are named like.
#: It plots once, when its worker loads it, as a notebook's cell does: a plot in every forward
#: would cost a second a case and show nothing more.
CAROL = '''"""Honest and correct; plots and reads a little of the stdlib."""

import colorsys
import json
import wave

import matplotlib
import matplotlib.pyplot as plt

from _honest import Correct

plt.plot([0, 1], [1, 0])
plt.close("all")


class Carol(Correct):
    name = "carol"
'''


def hostile(name: str) -> str:
    return f'raise SystemExit("the helper {name}.py ran in this process")\n'


def generated_names(seed: int) -> list[str]:
    """Every colliding name, in an order drawn from ``seed`` (the generated part: which file
    the folder lists first, which it lists last)."""
    names = [*STDLIB, *INSTALLED, *GRADERS_OWN]
    random.Random(seed).shuffle(names)
    return names


@functools.lru_cache(maxsize=1)
def imported_before_the_suite_runs() -> frozenset[str]:
    """What Python imports on its own, with ``runpy`` and the suite's package, before
    ``python -m conformance`` can take its current folder off the path: a file named like
    one of these in that folder is Python's to import (run the ``conformance`` command, or
    start ``python -m`` elsewhere)."""
    code = "import sys, runpy, conformance; print(' '.join(sys.modules))"
    found = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(HARNESS)!r}); {code}"],
                           capture_output=True, text=True, check=True).stdout.split()
    return frozenset(name.partition(".")[0] for name in found)


def _course(root: Path, attack: bool) -> None:
    honest_py(root / "subs")
    (root / "subs" / "carol.py").write_text(CAROL)
    write_course(root, {"correct.ipynb": correct_notebook(), "buggy.ipynb": buggy_notebook()})
    if not attack:
        return
    for name in generated_names(24):
        for folder in ("subs", "students"):
            (root / folder / f"{name}.py").write_text(hostile(name))
        if name not in imported_before_the_suite_runs():
            (root / f"{name}.py").write_text(hostile(name))
    (root / "evil_path").mkdir()
    # PYTHONPATH is the grader's own (it imports from there itself): the entry shadows a module
    # the honest students import and the grader does not.
    (root / "evil_path" / "wave.py").write_text(hostile("wave"))


def _runs(root: Path, attack: bool) -> dict:
    _course(root, attack)
    path = (root / "evil_path",) if attack else ()
    # the runs' own temporary folder (other tests of a parallel run make copies too), one a
    # worker running as another user can reach
    tmp = Path(tempfile.mkdtemp(prefix="course-tmp-"))
    tmp.chmod(0o755)
    checked, graded = together(
        lambda: conformance(root, "check", "subs", "--out", "check_report", *CHECK_GRID, python_path=path, tmp=tmp),
        lambda: conformance(root, "grade", "assignment.py", "students", "--out", "grade_report", "--quick",
                            "--seed", "0", "--timeout", "60", "--jobs", "1", python_path=path, tmp=tmp))
    return {"root": root, "check": checked, "grade": graded, "tmp": tmp}


@pytest.fixture(scope="module")
def courses(tmp_path_factory):
    """The clean course and the one with colliding files, each checked and graded, all at once."""
    clean, colliding = tmp_path_factory.mktemp("clean"), tmp_path_factory.mktemp("colliding")
    return together(lambda: _runs(clean, attack=False), lambda: _runs(colliding, attack=True))


@pytest.fixture(scope="module")
def baseline(courses):
    return courses[0]


@pytest.fixture(scope="module")
def attacked(courses):
    return courses[1]


@pytest.mark.parametrize("command, report, honest", [
    pytest.param("check", "check_report", ("subs/alice.py", "subs/bob.py", "subs/carol.py"),
                 id="checked .py submissions beside helpers named like stdlib, installed and grader modules"),
    pytest.param("grade", "grade_report", ("students/correct.ipynb", "students/buggy.ipynb"),
                 id="graded notebooks beside helpers named like stdlib, installed and grader modules"),
])
def test_every_honest_row_is_the_row_of_a_run_without_the_colliding_files(baseline, attacked, command, report,
                                                                          honest):
    assert baseline[command].returncode == 1, baseline[command].stderr[-2000:]  # the buggy one fails
    assert attacked[command].returncode == 1, attacked[command].stderr[-2000:]
    assert "ran in this process" not in attacked[command].stderr, attacked[command].stderr[-2000:]
    for target in honest:
        pd.testing.assert_frame_equal(rows_of(attacked["root"] / report, target),
                                      rows_of(baseline["root"] / report, target))
    clean, hostile_run = targets(baseline["root"] / report), targets(attacked["root"] / report)
    assert list(hostile_run.index) == list(clean.index)  # no helper became a submission
    assert list(hostile_run["verdict"]) == list(clean["verdict"])


@pytest.mark.parametrize("command, folder", [
    pytest.param("check", "subs", id="check lists each colliding helper once"),
    pytest.param("grade", "students", id="grade lists each colliding file beside the notebooks once"),
])
def test_each_colliding_file_is_listed_once_as_ignored(attacked, command, folder):
    lines = [line for line in attacked[command].stderr.splitlines() if "ignored, not submissions" in line]
    assert len(lines) == 1, attacked[command].stderr[-2000:]
    for name in generated_names(24):
        assert lines[0].count(f"{folder}/{name}.py") == 1, name


def test_a_helper_a_submission_imports_by_its_own_name_goes_with_it_and_with_no_one_else(attacked):
    listed = next(line for line in attacked["check"].stderr.splitlines() if "ignored" in line)
    assert "subs/_honest.py" not in listed  # alice's, bob's and carol's helper, in each one's copy


def test_no_private_copy_outlives_its_worker(attacked):
    assert not list(attacked["tmp"].glob("conformance-copy-*"))
