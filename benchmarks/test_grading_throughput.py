"""Grading throughput as pytest-benchmark rows: ``conformance grade`` over a class of 100
notebook submissions (``benchmarks.grading``), full grid, sandboxed, with one job and
with two; both must give the same grades. ``python -m benchmarks.grading`` runs the same
and writes ``benchmarks/grading.md`` with where the time goes.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import pandas as pd
import pytest

from benchmarks.grading import grade_class, grades, write_class

GRADES: dict[int, pd.DataFrame] = {}


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    write_class(folder)
    return folder


@pytest.mark.parametrize("jobs", [1, 2])
def test_grade_a_class(benchmark, class_folder, tmp_path, jobs):
    out = tmp_path / f"jobs{jobs}"
    run = benchmark.pedantic(grade_class, args=(class_folder, jobs, out), rounds=1)
    assert run.exit_code == 2  # the class's renamed notebooks cannot be loaded
    benchmark.group = "grading: 100 notebooks, full grid"
    benchmark.extra_info.update(method="conformance_grade", size="100 notebooks", activation="sigmoid",
                                params=0, flat=0, cores=os.cpu_count(), **asdict(run))
    GRADES[jobs] = grades(out)
    if len(GRADES) == 2:
        pd.testing.assert_frame_equal(GRADES[2], GRADES[1])
