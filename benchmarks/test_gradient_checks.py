"""Side by side, in one pytest-benchmark run: the suite's check of one case against
``torch.autograd.gradcheck`` (fast and slow mode), the classic per-entry loop, and
the floor (one forward + backward), on float64 MLPs of 10^3 to 10^6 parameters.

End to end (what a user waits for): the suite's check including generating its
case, gradcheck including building its tensors from the same arrays (its slow
mode's whole runs are end to end too; their samples are not, the tensors' cost
being a few milliseconds of minutes). Steady state: the suite's check with its
case generated beforehand, gradcheck's fast mode with its tensors built.

    python -m benchmarks.table          # runs this file and writes benchmarks/results.{csv,md}

A per-entry method whose whole run would exceed ``FULL_RUN_LIMIT_S`` is only
timed on samples of ``SAMPLES`` entries (the table
extrapolates); its whole-run benchmark is skipped, saying so.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from benchmarks import subjects
from conformance.cases.mlp_data import generate

FULL_RUN_LIMIT_S = float(os.environ.get("BENCHMARK_FULL_RUN_LIMIT_S", 120))
#: Entries the per-entry methods are timed on, to fit a fixed cost and a cost per entry.
SAMPLES = (200, 1000)
ROUNDS = {"1e3": 15, "1e4": 11, "1e5": 7, "1e6": 5}
CASES = [pytest.param(size, activation, id=f"{size}-{activation}")
         for size in subjects.WIDTHS for activation in subjects.ACTIVATIONS]
#: Whole-run estimates of the per-entry methods, from their samples (filled as they run).
ESTIMATES: dict[tuple[str, str, str, int], float] = {}


@pytest.fixture(autouse=True)
def one_thread():
    """PyTorch on one thread, as NumPy's BLAS is (``benchmarks.table`` starts pytest so)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def describe(benchmark, size: str, activation: str, method: str, **extra) -> subjects.Case:
    case = subjects.case_for(size, activation)
    benchmark.group = f"{size}-{activation}"
    benchmark.extra_info.update(size=size, activation=activation, method=method, params=case.spec.n_params,
                                flat=subjects.flat_size(case), **extra)
    return case


@pytest.mark.parametrize("size, activation", CASES)
@pytest.mark.parametrize("side", ["implementation", "pytorch"])
def test_floor(benchmark, size, activation, side):
    case = describe(benchmark, size, activation, f"floor_{side}")
    call = subjects.floor_calls(case)[side]
    benchmark.pedantic(call, rounds=5 * ROUNDS[size], warmup_rounds=3)


@pytest.mark.parametrize("size, activation", CASES)
@pytest.mark.parametrize("isolated", [False, True], ids=["in_process", "isolated"])
def test_suite_check(benchmark, size, activation, isolated):
    case = describe(benchmark, size, activation, "check_isolated" if isolated else "check")
    check, close = subjects.suite_check(case, isolated)
    try:
        rows = benchmark.pedantic(check, rounds=ROUNDS[size], warmup_rounds=1)
    finally:
        close()
    assert {r.check for r in rows} >= {"gradient", "fd_directional", "fd_entry", "contract"}


#: End to end, side by side on each network (the method varies fastest): the suite's check
#: in-process and through its worker, and gradcheck's fast mode.
END_TO_END = ("check_end_to_end", "check_end_to_end_isolated", "gradcheck_fast_end_to_end")


@pytest.mark.parametrize("method", END_TO_END)
@pytest.mark.parametrize("size, activation", CASES)
def test_end_to_end(benchmark, size, activation, method):
    case = describe(benchmark, size, activation, method)
    if method == "gradcheck_fast_end_to_end":
        assert benchmark.pedantic(subjects.gradcheck_end_to_end(case, fast_mode=True), rounds=ROUNDS[size],
                                  warmup_rounds=1)
        return
    check, close = subjects.suite_check_end_to_end(case, isolated=method.endswith("isolated"))
    try:
        rows = benchmark.pedantic(check, rounds=ROUNDS[size], warmup_rounds=1)
    finally:
        close()
    assert {r.check for r in rows} >= {"gradient", "fd_directional", "fd_entry", "contract"}


@pytest.mark.parametrize("size, activation", CASES)
def test_case_generation(benchmark, size, activation):
    case = describe(benchmark, size, activation, "generation")
    benchmark.pedantic(generate, args=(case,), rounds=3, warmup_rounds=0)


@pytest.mark.parametrize("size, activation", CASES)
def test_gradcheck_fast(benchmark, size, activation):
    case = describe(benchmark, size, activation, "gradcheck_fast")
    assert benchmark.pedantic(subjects.gradcheck_call(case, fast_mode=True), rounds=ROUNDS[size], warmup_rounds=1)


def _estimate(method: str, size: str, activation: str, total: int) -> float | None:
    small, large = SAMPLES
    first, second = (ESTIMATES.get((method, size, activation, n)) for n in SAMPLES)
    if first is None or second is None:
        return None
    return first + (total - small) * (second - first) / (large - small)


def _whole_run_rounds(method: str, size: str, activation: str, case) -> int:
    """Rounds of the whole run: 3 when short, 1 when long; skipped (extrapolated) when too long."""
    estimate = _estimate(method, size, activation, subjects.flat_size(case))
    if estimate is None or estimate > FULL_RUN_LIMIT_S:
        pytest.skip(f"{method} on {size}: whole run estimated at {estimate:.0f} s from its samples, "
                    f"over {FULL_RUN_LIMIT_S:g} s: extrapolated" if estimate else "no sample timed")
    return 3 if estimate < 10 else 1


@pytest.mark.parametrize("size, activation", CASES)
@pytest.mark.parametrize("entries", SAMPLES)
def test_gradcheck_slow_sample(benchmark, size, activation, entries):
    case = describe(benchmark, size, activation, "gradcheck_slow", sample=entries)
    call = subjects.gradcheck_slow_on(case, subjects.sampled_entries(case, entries))
    assert benchmark.pedantic(call, rounds=3, warmup_rounds=1)
    ESTIMATES["gradcheck_slow", size, activation, entries] = benchmark.stats.stats.median


@pytest.mark.parametrize("size, activation", CASES)
def test_gradcheck_slow_whole(benchmark, size, activation):
    case = describe(benchmark, size, activation, "gradcheck_slow")
    rounds = _whole_run_rounds("gradcheck_slow", size, activation, case)
    assert benchmark.pedantic(subjects.gradcheck_end_to_end(case, fast_mode=False), rounds=rounds, warmup_rounds=0)


@pytest.mark.parametrize("size, activation", CASES)
@pytest.mark.parametrize("entries", SAMPLES)
def test_classic_loop_sample(benchmark, size, activation, entries):
    case = describe(benchmark, size, activation, "classic_loop", sample=entries)
    indices = subjects.sampled_entries(case, entries)
    estimates = benchmark.pedantic(subjects.classic_loop_on(case, indices), rounds=3, warmup_rounds=1)
    ESTIMATES["classic_loop", size, activation, entries] = benchmark.stats.stats.median
    np.testing.assert_allclose(estimates, subjects.exact_gradient(case)[indices], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("size, activation", CASES)
def test_classic_loop_whole(benchmark, size, activation):
    case = describe(benchmark, size, activation, "classic_loop")
    rounds = _whole_run_rounds("classic_loop", size, activation, case)
    estimates = benchmark.pedantic(subjects.classic_loop_on(case), rounds=rounds, warmup_rounds=0)
    np.testing.assert_allclose(estimates, subjects.exact_gradient(case), rtol=1e-5, atol=1e-7)
