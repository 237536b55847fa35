"""A small course for the grading-integrity tests: an assignment, honest notebooks and .py
submissions, and the commands a course runs (``python -m conformance …`` in a process of its
own, from a folder of the test's choosing, with a ``PYTHONPATH`` of its choosing).

The honest submissions are a correct one and a buggy one (the bias gradient averaged over
the batch); every integrity test compares their rows with a run without the attacker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd

HARNESS = Path(__file__).resolve().parents[1]
HOSTILE = HARNESS / "tests" / "faulty" / "hostile"

#: ``conformance check``'s grid for these tests: one- and two-layer networks, batch 4, float64, VJP.
CHECK_GRID = ("--quick", "--batch", "4", "--dtype", "float64", "--loss", "vjp", "--no-timing", "--timeout", "60",
              "--jobs", "1")

ASSIGNMENT = '''"""A course's assignment: students define Net(weights, biases) with forward and backward."""

import numpy as np

from conformance import Adapter, Capabilities, Gradients

API = ("Net",)
POINTS = {"forward": 1, "gradient": 3}


class Course(Adapter):
    name = "course"
    capabilities = Capabilities(activations=frozenset({"tanh"}), output_activations=frozenset({"identity"}),
                                bias=frozenset({True}), dtypes=frozenset({"float64"}), max_batch=4)

    def build(self, spec, params):
        self.net = self.submission.Net(params.weights, params.biases)

    def forward(self, x):
        return self.net.forward(x)

    def backward(self, grad_output):
        grad_x, grad_w, grad_b = self.net.backward(grad_output)
        return Gradients(grad_x, tuple(grad_w), tuple(grad_b))
'''

NET = '''import numpy as np


class Net:
    """tanh hidden layers, identity output; weights (n_out, n_in)."""

    def __init__(self, weights, biases):
        self.weights, self.biases = [w.copy() for w in weights], [b.copy() for b in biases]

    def forward(self, x):
        self.inputs, self.outputs, a = [], [], x
        for number, (w, b) in enumerate(zip(self.weights, self.biases)):
            self.inputs.append(a)
            a = a @ w.T + b
            a = np.tanh(a) if number < len(self.weights) - 1 else a
            self.outputs.append(a)
        return a

    def backward(self, grad):
        grad_w, grad_b = [None] * len(self.weights), [None] * len(self.weights)
        for number in reversed(range(len(self.weights))):
            if number < len(self.weights) - 1:
                grad = grad * (1 - self.outputs[number] ** 2)
            grad_w[number] = grad.T @ self.inputs[number]
            grad_b[number] = grad.{reduce}(axis=0)
            grad = grad @ self.weights[number]
        return grad, grad_w, grad_b
'''

#: What an honest student's notebook does besides: plot (matplotlib) and use a little of the stdlib.
PLOTTING = '''import wave, colorsys, json
import matplotlib
import matplotlib.pyplot as plt
plt.plot([0, 1], [1, 0])
plt.show()
'''


def notebook(*cells: str) -> str:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(cell) for cell in cells]
    return nbformat.writes(book)


def correct_notebook() -> str:
    return notebook(NET.replace("{reduce}", "sum"), PLOTTING)


def buggy_notebook() -> str:
    return notebook(NET.replace("{reduce}", "mean"), PLOTTING)


def write_course(root: Path, students: dict[str, str]) -> tuple[Path, Path]:
    """``root/assignment.py`` and ``root/students/`` holding ``students`` (name → notebook text)."""
    (root / "students").mkdir(parents=True)
    (root / "assignment.py").write_text(ASSIGNMENT)
    for name, text in students.items():
        (root / "students" / name).write_text(text)
    return root / "assignment.py", root / "students"


def honest_py(folder: Path) -> None:
    """The honest .py submissions of the hostile set: alice (correct), bob (buggy), their helper."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("alice.py", "bob.py", "_honest.py"):
        shutil.copy(HOSTILE / name, folder / name)


def command_env(python_path: tuple[Path, ...] = (), state: Path | None = None, tmp: Path | None = None) -> dict:
    """The environment a course runs the grader in: ``PYTHONPATH`` holds the suite's folder
    after ``python_path`` (which the grader itself then imports from); ``state`` is its state
    folder (the journal's key); ``tmp``, when given, its temporary folder (its private copies go there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, python_path), str(HARNESS)])
    if state is not None:
        env["XDG_STATE_HOME"] = str(state)
    return env


def conformance(cwd: Path, *args: str, python_path: tuple[Path, ...] = (), state: Path | None = None,
                timeout: float = 900, tmp: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m conformance ARGS`` as a course runs it, started in ``cwd`` (``command_env``)."""
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd,
                          env=command_env(python_path, state, tmp), capture_output=True, text=True, timeout=timeout)


def started(cwd: Path, *args: str, state: Path | None = None) -> subprocess.Popen:
    """``python -m conformance ARGS`` started in ``cwd`` and left running (its output dropped)."""
    return subprocess.Popen([sys.executable, "-m", "conformance", *args], cwd=cwd, env=command_env(state=state),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rows_of(report: Path, target: str) -> pd.DataFrame:
    """A target's rows in a report, without its name, in a fixed order."""
    results = pd.read_csv(report / "results.csv", keep_default_na=False)
    mine = results[results["implementation"] == target].drop(columns="implementation")
    assert len(mine), f"{target} has no rows in {report}"
    return mine.sort_values(["case", "check", "tensor"]).reset_index(drop=True)


def targets(report: Path) -> pd.DataFrame:
    return pd.read_csv(report / "targets.csv", keep_default_na=False).set_index("target")
