"""The harness's own time per case on the default grid: the time of a serial run of
every case on ``reference_numpy``, minus the time spent inside the implementation's
adapter methods (build, forward, backward, loss, supports), per case.

Everything else counts as the harness's: generating the case's data, the PyTorch
oracle, the finite-difference bookkeeping, copies, comparisons, result rows,
and, with isolation (the default of ``conformance run``), the round trips to the
worker process. The implementation's own time is measured in-process (a worker's
clock is not visible here) and subtracted from both. Each round starts from empty
caches (data and oracle are computed again).
"""

from __future__ import annotations

import time

import pytest

from conformance.runner import case_data, oracle, run_each
from conformance.settings import CaseSettings
from conformance.running.targets import Target
from conformance.cases.grid import default_grid
from conformance.implementations.reference_numpy import ReferenceNumpy


class TimedReference(ReferenceNumpy):
    """The reference, adding the time spent in its own methods to ``spent``."""

    spent = [0.0]

    def _timed(self, method, *args):
        start = time.perf_counter()
        try:
            return getattr(super(), method)(*args)
        finally:
            TimedReference.spent[0] += time.perf_counter() - start

    def supports(self, spec, batch, dtype):
        return self._timed("supports", spec, batch, dtype)

    def build(self, spec, params):
        return self._timed("build", spec, params)

    def forward(self, x):
        return self._timed("forward", x)

    def backward(self, grad_output):
        return self._timed("backward", grad_output)

    def loss(self, x, targets):
        start = time.perf_counter()  # loss() calls forward and backward: count the whole call once
        spent = TimedReference.spent[0]
        try:
            return ReferenceNumpy.loss(self, x, targets)
        finally:
            TimedReference.spent[0] = spent + time.perf_counter() - start


IMPLEMENTATION_PER_CASE: dict[str, float] = {}


@pytest.mark.parametrize("grid", ["quick", "default"])
@pytest.mark.parametrize("isolated", [False, True], ids=["in_process", "isolated"])
def test_harness_time_per_case(benchmark, grid, isolated):
    cases = default_grid(quick=grid == "quick")
    target = Target("reference_numpy", TimedReference, "benchmarks")
    implementation: list[float] = []

    def run_grid():
        case_data.cache_clear()
        oracle.cache_clear()
        TimedReference.spent[0] = 0.0
        rows = [r for _, _, rows in run_each([target], cases, CaseSettings(isolate=isolated)) for r in rows]
        implementation.append(TimedReference.spent[0])
        return rows

    rows = benchmark.pedantic(run_grid, rounds=3, warmup_rounds=0)
    # a correct MLP: every case it takes passes (the layer networks do not apply to it)
    assert any(r.verdict == "pass" for r in rows) and not any(r.unexpected for r in rows)
    if not isolated:
        IMPLEMENTATION_PER_CASE[grid] = sorted(implementation)[len(implementation) // 2] / len(cases)
    per_case = benchmark.stats.stats.median / len(cases)
    benchmark.group = "harness overhead"
    benchmark.extra_info.update(
        method="harness_overhead", size=grid, activation="all", cases=len(cases), params=0, flat=0,
        isolated=isolated, per_case_s=per_case, implementation_per_case_s=IMPLEMENTATION_PER_CASE[grid],
        overhead_per_case_s=per_case - IMPLEMENTATION_PER_CASE[grid],
    )
