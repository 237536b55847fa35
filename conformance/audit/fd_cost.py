"""What the finite-difference checks cost, measured on an implementation: per case, the
objective evaluations they ask for and their wall time, each as a multiple of one
forward+backward of that implementation on that case.

    python -m conformance.audit.fd_cost            # the reference on the default grid
    python -m conformance.audit.fd_cost --quick    # the quick grid
    python -m conformance.audit.fd_cost --width 256  # the timing cases, hidden layers 256 wide

An objective evaluation is one ``build`` and one ``forward`` (or ``loss``) at a perturbed
point; the wall time also holds the harness's own work (the kink guard's forward at the
stencil's extreme points, the stencils' bookkeeping, copying the perturbed parameters), which
dominates on the grid's small networks. Run it on one thread
(``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1``) for multiples that do not
depend on how BLAS spreads over cores.
"""

from __future__ import annotations

import argparse
import time
from typing import Sequence

import numpy as np
import pandas as pd

from conformance.running.driver import Driver
from conformance.oracles.fd_checks import finite_difference_rows
from conformance.oracles.fd_scheme import Settings
from conformance.running.targets import Target, load
from conformance.cases.spec import Case, CaseData
from conformance.cases.grid import default_grid
from conformance.running.timing import timing_cases

#: Forward+backward runs timed per case (the median is kept).
REPEATS = 20


class CountingDriver(Driver):
    """A driver that counts the objective evaluations asked of it."""

    def __init__(self, target: Target):
        super().__init__(target)
        self.evaluations = 0

    def evaluate(self, data, probes):
        self.evaluations += sum(int(np.size(p.steps)) for p in probes)
        return super().evaluate(data, probes)


def forward_backward_seconds(target: Target, data: CaseData, repeats: int = REPEATS) -> float:
    """Median time of one build, forward and backward (or own loss and its gradients)."""
    spec, times = data.case.spec, []
    for _ in range(repeats):
        adapter = target.new()
        start = time.perf_counter()
        adapter.build(spec, data.params)
        if spec.loss is None:
            adapter.forward(data.x)
            adapter.backward(data.upstream)
        else:
            adapter.loss(data.x, data.targets)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def cost(cases: Sequence[Case], target: Target | None = None, settings: Settings = Settings()) -> pd.DataFrame:
    """One row per case the target supports: evaluations and seconds of its finite-difference
    checks, and both as multiples of one forward+backward."""
    from conformance.runner import case_data

    target = target or load("reference_numpy")
    rows = []
    for case in cases:
        driver = CountingDriver(target)
        if driver.supports(case):
            continue
        data = case_data(case)
        gradients = driver.observe(data).gradients
        start = time.perf_counter()
        finite_difference_rows(driver, data, gradients, settings=settings)
        seconds = time.perf_counter() - start
        once = forward_backward_seconds(target, data)
        rows.append(dict(case=case.id, mode=case.mode, params=case.spec.n_params, evaluations=driver.evaluations,
                         fd_seconds=seconds, forward_backward_seconds=once, time_multiple=seconds / once))
    return pd.DataFrame(rows)


def cost_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Median and largest evaluations and time multiple over the cases, VJP and loss cases apart."""
    table = table.assign(kind=np.where(table["mode"] == "vjp", "vjp", "loss"))
    return table.groupby("kind").agg(
        cases=("case", "size"),
        evaluations_median=("evaluations", "median"), evaluations_max=("evaluations", "max"),
        time_multiple_median=("time_multiple", "median"), time_multiple_max=("time_multiple", "max"),
        forward_backward_median_s=("forward_backward_seconds", "median"),
    ).reset_index()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="reference_numpy", help="implementation to measure (default: the reference)")
    parser.add_argument("--quick", action="store_true", help="the quick grid")
    parser.add_argument("--width", type=int, help="the timing cases (one per depth and dtype) at this hidden width")
    args = parser.parse_args(argv)
    cases = default_grid(quick=args.quick)
    if args.width:
        cases = timing_cases(cases, (args.width,))
    table = cost(cases, load(args.impl))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(cost_summary(table).to_string(index=False))


if __name__ == "__main__":
    main()
