"""Speed-up of the default run on this machine's cores: ``conformance run`` with one
job and with two, and the project's tests with ``pytest`` serially and with ``-n 2``;
the parallel run must give the same results as the serial one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS: dict[int, pd.DataFrame] = {}


@pytest.mark.parametrize("jobs", [1, 2])
def test_default_run(benchmark, jobs, tmp_path):
    out = tmp_path / f"jobs{jobs}"
    command = [sys.executable, "-m", "conformance", "run", "--jobs", str(jobs), "--out", str(out)]
    benchmark.pedantic(lambda: subprocess.run(command, cwd=ROOT, capture_output=True, check=True), rounds=3)
    benchmark.group = "parallel: conformance run"
    benchmark.extra_info.update(method="conformance_run", size="default grid", activation="all", jobs=jobs,
                                params=0, flat=0)
    RESULTS[jobs] = pd.read_csv(out / "results.csv")
    if len(RESULTS) == 2:
        pd.testing.assert_frame_equal(RESULTS[2], RESULTS[1])


@pytest.mark.parametrize("workers", [0, 2])
def test_pytest(benchmark, workers):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(["-n", str(workers)] if workers else [])]
    done = benchmark.pedantic(lambda: subprocess.run(command, cwd=ROOT, capture_output=True, text=True), rounds=1)
    assert done.returncode == 0, done.stdout[-2000:]
    benchmark.group = "parallel: pytest"
    benchmark.extra_info.update(method="pytest", size="tests", activation="all", jobs=max(workers, 1), params=0,
                                flat=0, summary=done.stdout.strip().splitlines()[-1])
