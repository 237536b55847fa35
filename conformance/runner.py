"""Running cases: one implementation on one case, into result rows.

For each case: generate its data, ask the adapter whether it applies, get the
PyTorch oracle's answer, observe what the implementation produces (through
its adapter, on copies of the data), compare tensor by tensor, say which bug
explains a failure (``conformance.diagnosis.diagnose``), then mark recorded known defects. The
oracle and the implementation never see each other; only the comparison does.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace
from typing import Iterable, Iterator

import numpy as np

from conformance.judge import expectations as known
from conformance.judge.compare import compare
from conformance.contract.rules import contract_fault, value_notes, value_violations
from conformance.diagnosis.diagnose import Diagnosis, diagnose
from conformance.running.driver import WARNING, Driver, ImplementationFault, Observation
from conformance.running.protocol import ImplementationDriver
from conformance.oracles.fd_checks import finite_difference_rows
from conformance.running.isolation import driver_for
from conformance.oracles.torch import Reference, reference
from conformance.running.targets import Target
from conformance.judge.results import FD_CHECKS, ORACLE_CHECKS, ResultRow, comparison_row, row
from conformance.cases.layer_data import generate_case
from conformance.cases.conventions import PYTORCH
from conformance.cases.spec import Case, CaseData
from conformance.diagnosis.conventions import NOT_AS_DECLARED, Fit, fitted
from conformance.settings import CaseSettings, Checks


@functools.lru_cache(maxsize=4096)
def case_data(case: Case) -> CaseData:
    """Generated once per case and shared by every implementation (never handed out: copies are);
    the same numbers under any conventions."""
    if case.conventions != PYTORCH:
        return replace(case_data(replace(case, conventions=PYTORCH)), case=case)
    return generate_case(case)


@functools.lru_cache(maxsize=4096)
def oracle(case: Case) -> Reference:
    return reference(case_data(case))


def compare_with_oracle(
    name: str, case: Case, seen: Observation, ref: Reference, input_gradient: bool = True
) -> list[ResultRow]:
    """Rows for the output, the loss and every gradient tensor, against PyTorch (under the case's
    conventions, named in the rows where they are not PyTorch's own)."""
    words = "; ".join(case.conventions.differences(case.spec))
    rows = _oracle_rows(name, case, seen, ref, input_gradient, f"PyTorch under {words}" if words else "PyTorch")
    return [replace(r, convention=words) for r in rows] if words else rows


def _oracle_rows(name: str, case: Case, seen: Observation, ref: Reference, input_gradient: bool,
                 against: str) -> list[ResultRow]:
    dtype = case.dtype
    rows = [comparison_row(name, case, "forward", compare("output", seen.output, ref.output, dtype, against))]
    if case.spec.loss is not None:
        loss = compare("loss", seen.loss, np.asarray(ref.loss), dtype, against)
        rows.append(comparison_row(name, case, "loss", loss))
    got = seen.gradients.tensors()
    for tensor, want in ref.gradients.tensors().items():
        if want is None:
            continue
        if tensor == "input" and not input_gradient:
            rows.append(row(name, case, "gradient", "input", "not_applicable",
                            "implementation computes no input gradient"))
            continue
        rows.append(comparison_row(name, case, "gradient", compare(tensor, got.get(tensor), want, dtype, against)))
    return rows


#: The checks a forward under another convention fails where no other convention is accepted.
REFUSED_CHECKS = ("forward", "loss")
#: The checks whose failing rows carry the case's diagnosis.
DIAGNOSED_CHECKS = ORACLE_CHECKS + FD_CHECKS


#: What a failing row says when the suite's own diagnosis raised: a fact about the suite.
DIAGNOSIS_FAILED = "diagnosis failed: suite error, please report"
log = logging.getLogger("conformance")


@dataclass(frozen=True)
class CaseOutcome:
    """One implementation on one case: its rows, and the case's diagnosis when it was made."""

    rows: list[ResultRow]
    diagnosis: Diagnosis | None = None


def with_diagnosis(rows: list[ResultRow], case: Case, seen: Observation, fit: Fit | None = None) -> CaseOutcome:
    """The rows, each failing one carrying the case's diagnosis (computed once, only when a
    comparison with PyTorch failed), made under the conventions the case is judged under
    (``fit``'s, where its forward follows a convention not declared: said first). A forward and
    loss refused for following another convention carry the refusal instead. An exception
    inside the diagnosis is the suite's own error: logged, and the rows say so."""
    def refused(r: ResultRow) -> bool:
        return fit is not None and fit.refused and r.fitted and r.verdict == "fail" and r.check in REFUSED_CHECKS
    if not any(r.verdict == "fail" and r.check in ORACLE_CHECKS and not refused(r) for r in rows):
        return CaseOutcome([replace(r, diagnosis=fit.refusal) if refused(r) else r for r in rows])
    try:
        diagnosis = diagnose(case_data(case), seen, oracle(case))
    except Exception:  # the rows the implementation failed on stand; the suite's bug is reported
        log.exception("the diagnosis of %s on %s failed", rows[0].implementation, case.id)
        diagnosis, line = None, DIAGNOSIS_FAILED
    else:
        line = diagnosis.line()
    if fit is not None and fit.declared_backward:
        line = (f"its forward follows {fit.words} but its backward ignores it: the gradients are those of the "
                f"forward without it, inconsistent with its own forward")
    elif fit is not None:
        line = f"its forward follows {fit.words}, not the conventions declared; {line}"
    return CaseOutcome([replace(r, diagnosis=fit.refusal) if refused(r)
                        else replace(r, diagnosis=line) if r.verdict == "fail" and r.check in DIAGNOSED_CHECKS else r
                        for r in rows], diagnosis)


def contract_rows(name: str, case: Case, seen: Observation, input_gradient: bool = True) -> list[ResultRow]:
    """One row per broken contract rule (the driver's, then every returned value that breaks
    the contract: ``contract.value_violations``, one per tensor), or one passing row saying
    the rules held, with a note where a result is more precise than the case."""
    data = case_data(case)
    method = "backward" if case.spec.loss is None else "loss"
    found = list(seen.violations)
    named = {tensor for tensor, _ in found}
    found += [(tensor, message) for tensor, message in
              value_violations(seen.output, seen.loss, seen.gradients, data, method, input_gradient)
              if tensor not in named]
    warned = "".join(f"; {text}" for text in seen.warnings)
    if not found:
        agreeing = [note for tensor, note in seen.notes if tensor != WARNING]
        agree = "; ".join(agreeing) if agreeing else "two runs agree bit for bit"
        notes = "".join(f"; {note}" for note in value_notes(seen.output, seen.loss, seen.gradients, data))
        return [row(name, case, "contract", "*", "pass", f"arguments left untouched; {agree}; one model called "
                                                         f"again answers as a fresh one{notes}{warned}")]
    return [row(name, case, "contract", tensor, "fail", message + warned) for tensor, message in found]


def contract_first(rows: list[ResultRow]) -> list[ResultRow]:
    """Where a returned value broke the contract, the checks that could not use it (finite
    differences of a non-finite objective, say) fail with it instead of being errors: the
    implementation answered, and its answer is what is wrong (``contract``'s rule)."""
    if not any(r.check == "contract" and r.verdict == "fail" for r in rows):
        return rows
    return [replace(r, verdict="fail") if r.verdict == "error" and r.check in DIAGNOSED_CHECKS else r for r in rows]


def run_case(
    target: Target | ImplementationDriver,
    case: Case,
    expectations: tuple[known.Expectation, ...] = (),
    checks: Checks = Checks(),
) -> list[ResultRow]:
    """Every result row of one implementation on one case."""
    return case_outcome(target, case, expectations, checks).rows


def case_outcome(
    target: Target | ImplementationDriver,
    case: Case,
    expectations: tuple[known.Expectation, ...] = (),
    checks: Checks = Checks(),
) -> CaseOutcome:
    """Every result row of one implementation on one case, and the case's diagnosis."""
    driver = Driver(target) if isinstance(target, Target) else target
    name = driver.name
    driver.start_case()
    try:
        reason = driver.supports(case)
        if reason:
            return CaseOutcome([row(name, case, "case", "*", "not_applicable", reason)])
        case = replace(case, conventions=driver.capabilities.conventions)
        seen = driver.observe(case_data(case))
    except ImplementationFault as fault:  # no answer (an error), or an answer of the wrong type (the contract)
        rows = [row(name, case, "contract", "*", "fail", str(fault)) if contract_fault(str(fault))
                else row(name, case, "case", "*", "error", str(fault))]
        return CaseOutcome(known.apply(rows, case, expectations))
    rows, fit = [], None
    if checks.torch:
        rows, fit = judged_rows(name, case, seen, driver.capabilities.input_gradient,
                                accept=checks.other_convention == "accept")
    if checks.finite_differences:
        ref = oracle(case).gradients if checks.torch else None
        rows += finite_difference_rows(driver, case_data(case), seen.gradients, ref, checks.fd_settings,
                                       output=seen.output)
    rows = contract_first(rows + contract_rows(name, case, seen, driver.capabilities.input_gradient))
    outcome = with_diagnosis(rows, fit.case if fit else case, seen, fit) if checks.torch else CaseOutcome(rows)
    return replace(outcome, rows=known.apply(outcome.rows, case, expectations))


def judged_rows(name: str, case: Case, seen: Observation, input_gradient: bool,
                accept: bool = True) -> tuple[list[ResultRow], Fit | None]:
    """The oracle's rows under the declared conventions; where the output or the loss differs
    there, conventions first (``diagnosis.conventions``): under a common convention that
    reproduces them, the rows of that convention (marked ``fitted``) and the fit. Where another
    convention is not ``accept``-ed, the forward and loss rows that failed under the declared
    conventions stand (the fit refused), the gradients judged under the fit."""
    rows = compare_with_oracle(name, case, seen, oracle(case), input_gradient)
    if not any(r.verdict == "fail" and r.check in REFUSED_CHECKS for r in rows):
        return rows, None
    fit = fitted(case_data(case), seen)
    if fit is None:
        return rows, None
    # a backward that agrees with the declared conventions where its forward follows others ignores them
    declared_backward = all(r.verdict == "pass" for r in rows if r.check == "gradient")
    fit = replace(fit, declared_backward=declared_backward, refused=not accept)
    failed = {(r.check, r.tensor): r for r in rows if r.verdict == "fail" and r.check in REFUSED_CHECKS}
    under_fit = compare_with_oracle(name, fit.case, seen, oracle(fit.case), input_gradient)
    return [replace(failed.get((r.check, r.tensor), r) if fit.refused else r, fitted=True,
                    convention=r.convention or NOT_AS_DECLARED) for r in under_fit], fit


def expect(driver: ImplementationDriver, cases: Iterable[Case]) -> None:
    """Tell the driver the cases about to run (a worker then asks ``supports`` once for all);
    a driver without ``expect`` is asked case by case."""
    if (ahead := getattr(driver, "expect", None)) is not None:
        ahead(list(cases))


def run_each(
    targets: Iterable[Target],
    cases: Iterable[Case],
    settings: CaseSettings = CaseSettings(),
    drivers: dict[str, ImplementationDriver] | None = None,
) -> Iterator[tuple[Target, Case, list[ResultRow]]]:
    """Every target on every case, serially, case by case as they finish: each target
    through one driver (its own worker process when isolated), closed when the target
    is done or the iteration stops (``drivers`` may hold ones already started, by target
    name). Each known defect of ``settings`` applies to the targets it names by identity
    (``expectations.for_target``)."""
    cases = list(cases)
    for target in targets:
        driver = (drivers or {}).get(target.name) or driver_for(target, settings.isolate, settings.limits)
        expectations = known.for_target(settings.expectations, target)
        try:
            expect(driver, cases)
            for case in cases:
                yield target, case, run_case(driver, case, expectations, settings.checks)
        finally:
            driver.close()
