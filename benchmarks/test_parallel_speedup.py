"""Speed-up of the default run on this machine's cores: ``conformance run`` with one
job and with two, and the project's tests with ``pytest`` serially and with ``-n 2``;
the parallel run must give the same results as the serial one.

Next to the wall time, each run records the CPU time its processes used and the
machine's load average: on a machine shared with other work, two processes
only finish sooner if the cores have room for them.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS: dict[int, pd.DataFrame] = {}


class Recorded:
    """Runs a command, keeping the CPU time of its processes and the load average before it."""

    def __init__(self, command: list[str]):
        self.command, self.cpu_s, self.load = command, [], []

    def __call__(self) -> subprocess.CompletedProcess:
        self.load.append(os.getloadavg()[0])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(self.command, cwd=ROOT, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_s.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        return done

    def info(self) -> dict:
        def median(values):
            return sorted(values)[len(values) // 2]
        return dict(cpu_s=median(self.cpu_s), load_before=median(self.load), cores=os.cpu_count())


@pytest.mark.parametrize("jobs", [1, 2])
def test_default_run(benchmark, jobs, tmp_path):
    out = tmp_path / f"jobs{jobs}"
    run = Recorded([sys.executable, "-m", "conformance", "run", "--jobs", str(jobs), "--out", str(out)])
    done = benchmark.pedantic(run, rounds=3)
    assert done.returncode == 0, done.stderr[-2000:]
    benchmark.group = "parallel: conformance run"
    benchmark.extra_info.update(method="conformance_run", size="default grid", activation="all", jobs=jobs,
                                params=0, flat=0, **run.info())
    RESULTS[jobs] = pd.read_csv(out / "results.csv")
    if len(RESULTS) == 2:
        pd.testing.assert_frame_equal(RESULTS[2], RESULTS[1])


@pytest.mark.parametrize("workers", [0, 2])
def test_pytest(benchmark, workers):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               *(["-n", str(workers)] if workers else [])]
    run = Recorded(command)
    done = benchmark.pedantic(run, rounds=1)
    assert done.returncode == 0, done.stdout[-2000:]
    benchmark.group = "parallel: pytest"
    benchmark.extra_info.update(method="pytest", size="tests", activation="all", jobs=max(workers, 1), params=0,
                                flat=0, summary=done.stdout.strip().splitlines()[-1], **run.info())
