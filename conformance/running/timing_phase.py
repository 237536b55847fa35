"""The timing phase: after the checks, each implementation timed next to PyTorch on timing
cases drawn from the cases it ran, within the run's budget (``timing`` measures one case;
this module chooses the cases, shares the budget and makes the rows of ``timings.csv``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

from conformance.cases.spec import Case
from conformance.cases.mlp_data import generate
from conformance.judge.results import ResultRow, case_fields
from conformance.running import timing
from conformance.running.driver import ImplementationFault
from conformance.running.isolation import driver_for
from conformance.running.protocol import ImplementationDriver
from conformance.running.targets import Target
from conformance.running.timing import fits

if TYPE_CHECKING:  # the run's settings sit above this stage; only their fields are read here
    from conformance.settings import Options


def timing_rows(target: Target, case: Case, measured: tuple[timing.Timed, ...] | None, problem: str = "") -> list[dict]:
    """Rows of the timings table for one case (one per phase); NaN times and the reason when it could not be timed."""
    nan = float("nan")
    base = case_fields(target.name, case) | {"n_params": case.spec.n_params}
    if measured is None:
        return [base | {"phase": phase, "detail": problem} for phase in timing.PHASES]
    return [base | {
        "phase": t.phase, "median_s": t.implementation.median_s, "q1_s": t.implementation.q1_s,
        "q3_s": t.implementation.q3_s, "iqr_s": t.implementation.iqr_s, "repeats": t.implementation.repeats,
        "calls_per_repeat": t.implementation.calls_per_repeat, "torch_median_s": t.torch.median_s,
        "torch_iqr_s": t.torch.iqr_s, "ratio": t.ratio if t.torch.median_s > 0 else nan, "detail": "",
    } for t in measured]


def time_target(target: Target, ran: list[Case], options: Options, progress,
                seconds: float = float("inf")) -> list[dict]:
    """Time the implementation next to PyTorch on the timing cases drawn from the cases it
    ran, narrowest first, in a fresh worker process on one thread (see ``timing``; in this
    process only for an adapter that cannot be found from another one), within ``seconds``:
    a case expected not to fit what is left is not started, and its rows say so."""
    cases = timing.timing_cases(ran, options.widths)
    progress.timing_started(target, len(cases))
    out: list[dict] = []
    started, last, measured, left_out = time.perf_counter(), None, 0, 0  # last: the latest case measured
    driver = driver_for(target, True, options.limits)
    try:
        with timing.single_threaded_workers():
            if cases:
                _start(driver, cases[0])
            for case in cases:
                if not fits(case, last, seconds - (time.perf_counter() - started), options.rules):
                    why = f"not timed: the timing budget ({options.timing_budget_s:g} s for the run) would be exceeded"
                    out += timing_rows(target, case, None, why)
                    left_out += 1
                else:
                    rows, timed = _timed_case(driver, target, case, options)
                    out += rows
                    if timed is not None:
                        last, measured = timed, measured + 1
                progress.timed(target, case)
    finally:
        driver.close()
    progress.timing_done(target, measured, len(cases), time.perf_counter() - started, left_out)
    return out


def _start(driver: ImplementationDriver, case: Case) -> None:
    """Start the worker before the first case, so that no case's time (and estimate) counts
    its start; a worker that cannot start is reported by the case it fails."""
    try:
        driver.start_case()
        driver.supports(case)
    except ImplementationFault:
        pass


def _timed_case(driver: ImplementationDriver, target: Target, case: Case,
                options: Options) -> tuple[list[dict], timing.Measured | None]:
    """The timing rows of one case, and what it measured (None when it was not measured)."""
    driver.start_case()
    try:
        supported = driver.supports(case)
        if supported:
            return timing_rows(target, case, None, f"not timed: {supported}"), None
        started = time.perf_counter()
        data = generate(case)
        generated = time.perf_counter() - started
        measured = driver.timings(data, options.rules)
        return timing_rows(target, case, measured), timing.Measured(case, measured, generated)
    except ImplementationFault as fault:
        return timing_rows(target, case, None, f"error while timing: {fault}"), None


def time_targets(targets: Sequence[Target], rows: list[ResultRow], cases: list[Case], options: Options,
                 progress) -> list[dict]:
    """Every target timed in turn within ``options.timing_budget_s`` seconds in all: each
    gets an even share, plus what the ones before it left unused (``timing.shares``)."""
    progress.timing_phase(targets, options.timing_budget_s)
    timings: list[dict] = []
    spent: list[float] = []
    for target in targets:
        started = time.perf_counter()
        share = timing.shares(options.timing_budget_s, len(targets), spent)
        timings += time_target(target, _ran_cases(rows, target, cases), options, progress, share)
        spent.append(time.perf_counter() - started)
    return timings


def _ran_cases(rows: list[ResultRow], target: Target, cases: list[Case]) -> list[Case]:
    """The cases the target ran to the end without an error (timing anything else says nothing).
    A check left not applicable inside a case that ran (a finite difference too near a
    kink) does not keep the case from being timed."""
    skipped = {r.case for r in rows if r.implementation == target.name
               and (r.verdict == "error" or (r.check == "case" and r.verdict == "not_applicable"))}
    seen = {r.case for r in rows if r.implementation == target.name}
    return [c for c in cases if c.id in seen and c.id not in skipped]
