"""`conformance run --jobs 2` gives the rows of a serial run, in the same order."""

import pandas as pd
import pytest

from conformance import api, parallel
from conformance.cases.grid import default_grid

#: A correct implementation, one with recorded known defects and one that fails, named by a
#: path (each parallel process's worker loads it again).
IMPLEMENTATIONS = ["reference_numpy", "cached_input", "tests/faulty/adapters.py:WrongShape"]
CASES = default_grid(quick=True)[::10]


def results(jobs: int) -> pd.DataFrame:
    options = api.Options(jobs=jobs, timing=False)
    return api.run_suite(IMPLEMENTATIONS, cases=CASES, options=options).results


@pytest.mark.e2e  # two pools of processes, each with its workers
def test_two_jobs_give_the_rows_of_a_serial_run():
    serial, parallel = results(1), results(2)
    assert set(serial["verdict"]) >= {"pass", "fail", "expected_fail"}
    assert set(serial["implementation"]) == set(IMPLEMENTATIONS)
    pd.testing.assert_frame_equal(parallel, serial)


class _PoolStarted(Exception):
    pass


@pytest.mark.parametrize("runs, pooled", [
    pytest.param(parallel.CASE_RUNS_PER_HELPER - 1, False, id="a run too small to pay for a process starts none"),
    pytest.param(parallel.CASE_RUNS_PER_HELPER, True, id="a run that pays for one starts it"),
])
def test_a_pool_process_is_started_only_when_the_run_pays_for_it(monkeypatch, runs, pooled):
    class Pool:  # stands in for the pool: says it was started
        def __init__(self, *args, **kwargs):
            raise _PoolStarted

    class Here:  # stands in for this process's runner: every chunk, no rows
        def __init__(self, *args):
            pass

        def run(self, chunk):
            return [[[] for _ in chunk]]

        def close(self):
            pass

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(parallel, "ChunkRunner", Here)
    cases = default_grid(quick=True)[:runs]
    try:
        rows = list(parallel.run_indexed_parallel(["a target"], cases, 2, settings=None))
    except _PoolStarted:
        assert pooled
    else:
        assert not pooled and len(rows) == runs


def test_a_chunk_runner_given_no_workers_opens_one_per_target_and_keeps_it_across_chunks():
    """What a pool process does: it starts its own drivers (here in this process, no sandbox),
    one per target, and the second chunk is run by the driver the first one opened."""
    from conformance.running.targets import builtin
    from conformance.settings import CaseSettings
    from tests.helpers import PINNED

    cases = [case for case in PINNED if isinstance(case.spec, type(CASES[0].spec))][:2]
    runner = parallel.ChunkRunner([builtin("reference_numpy")], CaseSettings(isolate=False))
    try:
        first = runner.run([(0, cases[0])])
        opened = dict(runner.drivers)
        second = runner.run([(1, cases[1])])
        assert list(opened) == [0] and runner.drivers == opened
        assert {row.verdict for rows in first[0] + second[0] for row in rows} == {"pass"}
    finally:
        runner.close()
    assert runner.drivers == {}
