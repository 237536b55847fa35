"""Judging an implementation's gradients by finite differences of its own objective.

Two checks, each into result rows:

* ``fd_directional`` (one row per case): for every random unit direction v,
  ``v · grad`` against the derivative of ``t ↦ f(theta + t v)``. A gradient
  tensor that is missing or mis-shaped makes ``v · grad`` impossible to form:
  a failure, said so.
* ``fd_entry`` (one row per tensor): central differences at a few entries of
  the tensor, always including the entry where the implementation disagrees
  most with PyTorch (when the PyTorch check runs) or else its largest entry,
  plus entries drawn from the case's seed (none on a large case:
  ``Settings.entries_for``); the row names the worst one. The entries are
  first probed together, along one sparse direction: on a large case the one
  entry of every tensor (one estimate instead of one per tensor), on a smaller
  one the entries of each tensor (one estimate per tensor instead of one per
  entry); only where that disagrees, or a kink makes it unreliable, is each
  entry probed on its own, which names the wrong one.

The tolerance is the case dtype's gradient tolerance (``compare.tolerance_for``:
the same rounding allowance as against PyTorch, carried through the dot
product for a direction) plus the estimate's own error bound. An estimate the
harness cannot trust (its stencil would cross a ReLU kink) is left out, and a
row with no trustworthy estimate left is ``not_applicable``, never a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from conformance.contract.adapter import Gradients
from conformance.judge.compare import (Comparison, Tolerance, Unusable, first_worst, mismatch_message, tolerance_for,
                                       usable)
from conformance.running.driver import ImplementationFault
from conformance.running.protocol import ImplementationDriver
from conformance.oracles.fd_scheme import Estimates, Settings
from conformance.oracles.finite_difference import FiniteDifferences, flat_offsets
from conformance.oracles.fd_plan import ProbePlan
from conformance.judge.results import ResultRow, comparison_row, row
from conformance.cases.spec import CaseData


@dataclass(frozen=True)
class FiniteDifferenceTolerance(Tolerance):
    """The gradient's rounding allowance plus the finite-difference estimate's error bound."""

    estimate_error: float = 0.0

    def __str__(self) -> str:
        return (f"rtol={self.rtol:g} (of |gradient| and of max|gradient|), floor={self.floor:g}, "
                f"+ finite-difference error bound {self.estimate_error:.2g}")


def gradient_problem(tensor: str, actual: object, shape: tuple[int, ...]) -> str | None:
    """Why ``actual`` cannot serve as the gradient of a tensor of ``shape``, or None."""
    found = usable(actual, shape)
    return f"{tensor}: {found.what}" if isinstance(found, Unusable) else None


@dataclass(frozen=True, eq=False)
class Judged:
    """The implementation's gradients for one case, split into usable ones and problems."""

    shapes: dict[str, tuple[int, ...]]
    grads: dict[str, np.ndarray]
    problems: dict[str, str]

    @classmethod
    def of(cls, data: CaseData, gradients: Gradients, include_input: bool) -> Judged:
        shapes = {name: t.shape for name, t in data.tensors().items() if include_input or name != "input"}
        given = gradients.tensors()
        problems = {t: p for t, shape in shapes.items() if (p := gradient_problem(t, given.get(t), shape))}
        grads = {t: np.asarray(given[t], dtype=np.float64) for t in shapes if t not in problems}
        return cls(shapes, grads, problems)


def finite_difference_rows(
    driver: ImplementationDriver,
    data: CaseData,
    gradients: Gradients,
    reference: Gradients | None = None,
    settings: Settings = Settings(),
    output: object = None,
) -> list[ResultRow]:
    """The ``fd_directional`` and ``fd_entry`` rows of one case.

    ``reference`` (PyTorch's gradients, when that check runs) only chooses
    which entries to probe; the verdict rests on the implementation alone.
    ``output`` (the implementation's own, at the case's point) sizes the rounding of the
    objective's values (``finite_difference.value_terms``).
    """
    judged = Judged.of(data, gradients, driver.capabilities.input_gradient)
    fd = FiniteDifferences(driver, data, settings, output=output)
    plan = ProbePlan.of(fd, judged, reference)
    # Every point the checks will ask for is known now: one request. Asked again only entries
    # probed one by one after their sparse direction disagreed (``_probed_together``), and
    # every point when the objective's values are float32 numbers in a float64 evaluation
    # (its scheme is known from the value at the case's point only).
    fd.ask_ahead(plan.points(fd))
    rows = []
    if settings.directions:
        rows += _guarded(fd, "fd_directional", lambda: _directional_rows(fd, judged, plan.vectors))
    if settings.entries_per_tensor:
        rows += _guarded(fd, "fd_entry", lambda: _entry_rows(fd, judged, plan))
    return rows


def _guarded(fd: FiniteDifferences, check: str, build: Callable[[], list[ResultRow]]) -> list[ResultRow]:
    """The check's rows, or one error row when the implementation faults while probed."""
    try:
        return build()
    except ImplementationFault as fault:
        return [row(fd.driver.name, fd.data.case, check, "*", "error", f"while taking finite differences: {fault}")]


def _directional_rows(fd: FiniteDifferences, judged: Judged, vectors: list[np.ndarray]) -> list[ResultRow]:
    name, case = fd.driver.name, fd.data.case
    if judged.problems:
        return [row(name, case, "fd_directional", "*", "fail",
                    "v·grad cannot be formed: " + "; ".join(judged.problems.values()))]
    estimates = fd.along(vectors)
    tol = tolerance_for(case.dtype)
    # v·grad and |v|·allowance tensor by tensor: no copy of a whole flat vector per direction.
    actual, rounding = np.zeros(len(vectors)), np.zeros(len(vectors))
    for tensor, start in flat_offsets(fd.data).items():
        if tensor not in judged.grads:
            continue
        g = judged.grads[tensor].ravel()
        allowance = tol.allowed(np.abs(g))
        for k, vector in enumerate(vectors):  # one float32 row at a time is upcast, not all
            part = vector[start:start + g.size].astype(np.float64)
            actual[k] += part @ g
            rounding[k] += np.abs(part, out=part) @ allowance
    comparison = worst_estimate(
        "*", actual, estimates, rounding, tol,
        label=lambda i: f"direction {i + 1} of {len(estimates)}: v·grad",
        against="derivative along v",
        where=lambda i: (i,),
    )
    return [_row(fd, "fd_directional", "*", comparison, estimates)]


def _entry_rows(fd: FiniteDifferences, judged: Judged, plan: ProbePlan) -> list[ResultRow]:
    name, case, picks = fd.driver.name, fd.data.case, plan.picks
    if plan.together is not None:
        together, rows = _probed_together(fd, judged, picks, plan.together)
        if together:
            return rows
    # Only where the objective's values carry float64's precision: float32's coarser error bounds,
    # summed over a tensor's entries, let a wrong entry pass more often than alone (random
    # networks, a transposed weight, float32 only: 7 of 262 missed together, 5 alone).
    passed, tensors = {}, list(plan.per_tensor) if fd.objective_dtype == "float64" else []
    along = fd.along([plan.per_tensor[t][1] for t in tensors], kind="entry") if tensors else None
    for k, tensor in enumerate(tensors):
        agrees, rows = _judged_together(fd, judged, {tensor: picks[tensor]}, plan.per_tensor[tensor][0],
                                        along.part(k, k + 1))
        if agrees:
            passed[tensor] = rows[0]
    alone = [t for t in picks if t not in passed]
    estimates = fd.at_entries(plan.flat_indices(fd, alone))  # one request for every tensor probed alone
    rows, start, tol = [], 0, tolerance_for(case.dtype)
    for tensor in judged.shapes:
        if tensor in judged.problems:
            rows.append(row(name, case, "fd_entry", tensor, "fail", f"cannot compare: {judged.problems[tensor]}"))
            continue
        if tensor in passed:
            rows.append(passed[tensor])
            continue
        chosen, grad = picks[tensor], judged.grads[tensor]
        mine = estimates.part(start, start + len(chosen))
        start += len(chosen)
        found = np.array([e.derivative for e in mine.estimates])
        scale = max(float(np.abs(grad).max()), float(np.nanmax(np.abs(found), initial=0.0)))
        rounding = tol.allowed(np.abs(np.nan_to_num(found)), scale)
        def position(i, c=chosen, g=grad):
            return tuple(int(k) for k in np.unravel_index(c[i], g.shape))
        comparison = worst_estimate(
            tensor, grad.ravel()[chosen], mine, rounding, tol,
            label=lambda i, t=tensor, p=position: f"{t}{list(p(i))}: got",
            against="finite difference",
            where=position,
        )
        rows.append(_row(fd, "fd_entry", tensor, comparison, mine))
    return rows


def _probed_together(fd: FiniteDifferences, judged: Judged, picks: dict[str, list[int]],
                     together: tuple[np.ndarray, np.ndarray]) -> tuple[bool, list[ResultRow]]:
    """The entries ``picks`` names probed in one sparse direction: on a large case the one
    entry of every tensor, on a smaller one the entries of one tensor. Each entry has a
    coefficient of magnitude 0.5 to 1 and a sign drawn from the case's seed, so one derivative
    (``entry_order`` like a single entry's, at the same steps) stands for them all, against the
    sum of the implementation's entries times their coefficients, within the sum of the entries'
    rounding allowances plus the estimate's error bound. A wrong entry cancels with another
    only with probability 0 (the coefficients are continuous).

    Returns (True, a passing row per tensor) when it agrees; (False, []) when it does not
    or cannot be trusted (a kink), and the entries are then probed one by one, which names
    the wrong one. One estimate in place of one per entry: on a 10^6-parameter network,
    4 evaluations of the network instead of 28; on a small one, 4 per tensor instead of 8.
    """
    coefficients, direction = together
    return _judged_together(fd, judged, picks, coefficients, fd.along([direction], kind="entry"))


def _judged_together(fd: FiniteDifferences, judged: Judged, picks: dict[str, list[int]], coefficients: np.ndarray,
                     estimates: Estimates) -> tuple[bool, list[ResultRow]]:
    """``_probed_together``'s verdict, from the one estimate along its direction."""
    name, case, tol = fd.driver.name, fd.data.case, tolerance_for(fd.data.case.dtype)
    members = [(tensor, index) for tensor, chosen in picks.items() for index in chosen]
    actual = rounding = 0.0
    for c, (tensor, index) in zip(coefficients, members):
        grad = judged.grads[tensor].ravel()
        actual += float(c) * float(grad[index])
        rounding += abs(float(c)) * (tol.rtol * (abs(float(grad[index])) + float(np.abs(grad).max())) + tol.floor)
    estimate = estimates[0]
    if estimate.unreliable or abs(actual - estimate.derivative) > rounding + estimate.error:
        return False, []
    diff, allowed = abs(actual - estimate.derivative), rounding + estimate.error
    fd_tol = FiniteDifferenceTolerance(tol.rtol, tol.floor, estimate.error)
    what = (f"the worst entry of each of the {len(picks)} tensors" if len(picks) > 1
            else f"these {len(members)} entries")
    together = (f"{what}, probed together along one sparse direction: "
                f"Σ c·got {actual:.8g}, finite difference {estimate.derivative:.8g} (|error| {diff:.3g} within "
                f"tolerance {allowed:.3g}; {fd_tol}); {estimates.describe()}")
    rows, coefficient = [], dict(zip(members, coefficients))
    for tensor, chosen in picks.items():
        grad = judged.grads[tensor]
        at = [tuple(int(k) for k in np.unravel_index(index, grad.shape)) for index in chosen]
        got = "; ".join(f"{tensor}{list(where)}: got {float(grad.ravel()[index]):.8g}, "
                        f"coefficient {coefficient[tensor, index]:.3g}" for where, index in zip(at, chosen))
        comparison = Comparison(tensor, True, diff, diff / max(abs(estimate.derivative), tol.floor), at[0],
                                float(grad.ravel()[chosen[0]]), None, fd_tol, f"{got}; {together}")
        rows.append(comparison_row(name, case, "fd_entry", comparison))
    return True, rows


def worst_estimate(tensor: str, actual, estimates: Estimates, rounding, tol: Tolerance, *, label, against: str,
           where) -> Comparison | str:
    """The comparison at the worst reliable estimate, or why no estimate is reliable."""
    reliable = [i for i, e in enumerate(estimates.estimates) if not e.unreliable]
    if not reliable:
        return "; ".join(sorted({e.unreliable for e in estimates.estimates}))
    found = np.array([estimates[i].derivative for i in reliable])
    got = np.asarray(actual, dtype=np.float64)[reliable]
    allowed = np.asarray(rounding)[reliable] + np.array([estimates[i].error for i in reliable])
    diff = np.abs(got - found)
    k = first_worst(diff / allowed)[0]
    i = reliable[k]
    fd_tol = FiniteDifferenceTolerance(tol.rtol, tol.floor, estimates[i].error)
    message = mismatch_message(label(i), float(got[k]), against, float(found[k]), float(diff[k]), float(allowed[k]),
                               fd_tol, int(np.count_nonzero(diff > allowed)), len(reliable))
    relative = diff / np.maximum(np.abs(found), tol.floor)
    return Comparison(tensor, bool(np.all(diff <= allowed)), float(diff.max()), float(relative.max()), where(i),
                      float(got[k]), float(found[k]), fd_tol, message)


def _row(fd: FiniteDifferences, check: str, tensor: str, comparison: Comparison | str,
         estimates: Estimates) -> ResultRow:
    name, case = fd.driver.name, fd.data.case
    if isinstance(comparison, str):
        return row(name, case, check, tensor, "not_applicable",
                   f"no reliable finite difference: {comparison}; {estimates.describe()}")
    skipped = [e.unreliable for e in estimates.estimates if e.unreliable]
    note = f"; {len(skipped)} of {len(estimates)} estimates left out: {skipped[0]}" if skipped else ""
    result = comparison_row(name, case, check, comparison)
    return ResultRow(**(result.as_dict() | {"detail": f"{comparison.message}; {estimates.describe()}{note}"}))
