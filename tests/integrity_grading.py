"""Grading a small class twice, with and without an attacker, on a few pinned cases of the
worked example's grid: what the integrity tests of ``conformance grade`` share.

``grade_class`` copies the chosen worked-example notebooks (and any extra submission
written by the test) into a fresh folder and grades it in this process with the
worked example's assignment, on ``PINNED`` (both batch sizes, a VJP and a loss
case, and one case the assignment does not take), with a given seed. The honest
neighbours of a test are ``correct`` and ``bias_mean`` (its bias gradient averaged
over the batch, not summed: a bug only batch 4 shows).
"""

from __future__ import annotations

import atexit
import functools
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd

from conformance.cases.grid import default_grid
from conformance.examples.assignment_004 import students
from conformance.grading import grade

EXAMPLE = Path(students.__file__).parent
ASSIGNMENT = EXAMPLE / "assignment.py"
HONEST = ("correct", "bias_mean")
PINNED = (
    "2layer-3.5.2-sigmoid-identityout-bias-b1-float64-vjp",
    "2layer-3.5.2-sigmoid-identityout-bias-b4-float64-vjp",
    "2layer-5.5.5-sigmoid-identityout-bias-b1-float64-half_mse",
    "2layer-5.5.5-sigmoid-identityout-bias-b4-float64-half_mse",
    "2layer-3.4.1-tanh-identityout-bias-b4-float64-vjp",
)
#: Generous: honest notebooks must never be stopped by a loaded machine.
TIMEOUT_S = 60.0


def pinned(seed: int):
    chosen = [case for case in default_grid(seed) if case.id in PINNED]
    assert len(chosen) == len(PINNED), "a pinned case left the grid"
    return chosen


@dataclass(frozen=True)
class Graded:
    """One grading run: the exit code, what it printed, the report folder."""

    code: int
    stdout: str
    stderr: str
    out: Path

    def targets(self) -> pd.DataFrame:
        table = pd.read_csv(self.out / "targets.csv", keep_default_na=False)
        return table.assign(student=table["target"].map(lambda t: Path(t).stem)).set_index("student")

    def rows(self, student: str) -> pd.DataFrame:
        """The student's result rows, without the columns that name the run's paths."""
        results = pd.read_csv(self.out / "results.csv", keep_default_na=False)
        mine = results[results["implementation"].map(lambda t: Path(t).stem) == student]
        assert not mine.empty, f"{student} has no rows"
        return mine.drop(columns=["implementation"]).reset_index(drop=True)

    def feedback(self, student: str) -> str:
        return next((self.out / "feedback").glob(f"*{student}.*.md")).read_text(encoding="utf-8")


def notebook_with(base: str, cells: list[str], before: bool = False) -> nbformat.NotebookNode:
    """A worked-example notebook with code cells added at its end (or, ``before``, first)."""
    notebook = nbformat.read(str(EXAMPLE / "students" / f"{base}.ipynb"), as_version=4)
    added = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.cells = added + notebook.cells if before else notebook.cells + added
    return notebook


def grade_class(root: Path, extra: dict[str, nbformat.NotebookNode | str] | None = None, *, seed: int | None = 0,
                honest: tuple[str, ...] = HONEST, assignment: Path = ASSIGNMENT, grid=pinned) -> Graded:
    """Grade the honest notebooks and the ``extra`` submissions (name → notebook, or the text of
    a module handed in as a folder of that name)."""
    folder = root / "students"
    folder.mkdir(parents=True)
    for name in honest:
        shutil.copy(EXAMPLE / "students" / f"{name}.ipynb", folder / f"{name}.ipynb")
    for name, content in (extra or {}).items():
        if isinstance(content, str):  # a folder holding one module (beside notebooks a .py is a helper)
            (folder / name).mkdir()
            (folder / name / f"{name}.py").write_text(content, encoding="utf-8")
        else:
            nbformat.write(content, str(folder / f"{name}.ipynb"))
    stdout, stderr = io.StringIO(), io.StringIO()
    from conformance.running.limits import Limits

    code = grade.command(assignment, [str(folder)], out=root / "reports", seed=seed, grid=grid,
                         limits=Limits(timeout_s=TIMEOUT_S), jobs=1, stdout=stdout, stderr=stderr)
    return Graded(code, stdout.getvalue(), stderr.getvalue(), root / "reports")


@functools.lru_cache(maxsize=None)
def honest_class(seed: int = 0) -> Graded:
    """The honest neighbours graded alone at ``seed``: the run every attacked class is compared
    with, graded once per test session."""
    root = Path(tempfile.mkdtemp(prefix="honest-class-"))
    atexit.register(shutil.rmtree, root, True)
    return grade_class(root, seed=seed)
