"""What the tests share that is not a fixture: the checkout's paths, the pinned cases the
shared check runs on, and small ways to read rows."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

import pandas as pd
import pytest

from conformance.cases.layer_grid import sequence_specs
from conformance.cases.spec import Case, NetworkSpec
from conformance.cases.grid import default_grid, smoke_grid

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "numpy_mlp.py"
FAULTY = Path(__file__).resolve().parent / "faulty"


def mlp(sizes, activation="tanh", loss=None, batch=4, dtype="float64", output="identity", bias=True) -> Case:
    return Case(NetworkSpec.mlp(list(sizes), activation, output, bias, loss), batch, dtype)


#: A dozen cases, each there for a behaviour the shared check must show: wide and square
#: first layers (a transposed gradient has the wrong shape, then the right one), every
#: depth, both batch sizes and dtypes, the example's MSE on several outputs (where a mean
#: over the batch only is wrong) and on one, losses the example lacks, and a
#: layer-sequence network it does not take.
PINNED = (
    mlp((3, 4, 2)),
    mlp((5, 5, 5), "relu", dtype="float32"),
    mlp((4, 3), "sigmoid", batch=1, output="sigmoid"),
    mlp((3, 5, 5, 1), "tanh", "mse"),
    mlp((4, 5, 3), "relu", "mse", dtype="float32"),
    mlp((2, 5, 3, 4, 3), "sigmoid", batch=1),
    mlp((3, 4, 4, 4, 3), "tanh", "mse", batch=1, bias=False),
    mlp((3, 4, 1), "relu", "sse"),
    mlp((4, 4, 3), "tanh", "softmax_cross_entropy", dtype="float32"),
    mlp((5, 5), "identity", dtype="float32"),
    Case(sequence_specs()[0], 3, "float64"),
    Case(sequence_specs()[0], 3, "float32"),
)


def fresh_python(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python ARGS`` in a new process started in ``cwd``, the checkout importable."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def captured(command, *args, **kwargs) -> tuple[int, str, str]:
    """A command function's exit code, stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = command(*args, stdout=stdout, stderr=stderr, **kwargs)
    return code, stdout.getvalue(), stderr.getvalue()


def csv(report: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(report / name, keep_default_na=False)


#: A grid-wide test's sizes: the smoke grid in the fast tier, the quick grid end-to-end, the
#: whole grid with the long checks (``-m slow``).
GRID_SIZES = (
    pytest.param(smoke_grid, id="on the smoke grid"),
    pytest.param(lambda: default_grid(quick=True), id="on the quick grid", marks=pytest.mark.e2e),
    pytest.param(default_grid, id="on the whole grid", marks=pytest.mark.slow),
)


def together(*calls: Callable[[], T]) -> list[T]:
    """Each call's result, the calls made at once: an end-to-end fixture running several commands
    (each in a process of its own) waits for the slowest, not for their sum."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]

def ctrl_c_as_in_a_terminal() -> None:
    """For ``Popen(preexec_fn=…)`` in tests that press Ctrl-C: SIGINT handled as in a terminal,
    even when the tests themselves were started as a background job (which ignores it, and
    every child inherits that)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
