"""`conformance run --jobs 2` gives the rows of a serial run, in the same order."""

import pandas as pd
import pytest

from conformance import api
from conformance.cases.grid import default_grid

#: A correct implementation, one with recorded known defects and one that fails, named by a
#: path (each parallel process's worker loads it again).
IMPLEMENTATIONS = ["reference_numpy", "cached_input", "tests/faulty/adapters.py:WrongShape"]
CASES = default_grid(quick=True)[::5]

pytestmark = pytest.mark.e2e  # two pools of processes, each with its workers


def results(jobs: int) -> pd.DataFrame:
    options = api.Options(jobs=jobs, timing=False)
    return api.run_suite(IMPLEMENTATIONS, cases=CASES, options=options).results


def test_two_jobs_give_the_rows_of_a_serial_run():
    serial, parallel = results(1), results(2)
    assert set(serial["verdict"]) >= {"pass", "fail", "expected_fail"}
    assert set(serial["implementation"]) == set(IMPLEMENTATIONS)
    pd.testing.assert_frame_equal(parallel, serial)
