"""The mutation self-audit (``conformance audit``): does the suite catch bugs, and name them?

Every mutant of ``conformance.audit.mutants`` (the reference with one bug) runs through the
suite's own ``runner.case_outcome`` (both oracles, the diagnosis) on the audit grid. A
mutant is *caught* when some case fails; it is *diagnosed right* when every one of
its failing cases gets the finding the mutant declares (kind, layers or tensors,
factor; none at all for a bug no hypothesis describes, which must be "unexplained";
for a model that keeps state between calls, the contract row saying which). The correct
implementations (the reference, and seed ports judged with their recorded defects) run on the
same grid: any failure there that is not a recorded defect is a false alarm.

Mutants run in this process, without a worker: they are the suite's own code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Sequence

from conformance.judge import expectations as known
from conformance.running.driver import Driver
from conformance.audit.mutants import MUTANTS, Mutant
from conformance.audit.pool import in_pool
from conformance.running.targets import Target, load
from conformance.runner import case_outcome
from conformance.cases.layers import SequenceSpec
from conformance.cases.spec import Case, NetworkSpec
from conformance.cases.grid import default_grid

#: The implementations that must pass every case that applies to them: the reference and
#: the seed ports with no recorded defect (seed 003's port raises on every network deeper
#: than one layer, as the seed does, so it is not among them).
CORRECT = ("reference_numpy", "class_layers", "single_layer_relu")

KILL_RATE_NEEDED = 1.0
ACCURACY_NEEDED = 0.95


def audit_grid(seed: int = 0, quick: bool = False) -> list[Case]:
    """The default grid; ``quick``: of the MLPs, batch 4 and depth 3 only (a first, a middle and a
    last layer), upstream-gradient cases in both dtypes, every loss in float64 on the networks with
    biases; of the layer-sequence networks, every one at batch 3."""
    cases = default_grid(seed=seed)
    if quick:
        cases = [c for c in cases if isinstance(c.spec, SequenceSpec) and c.batch == 3 or c.batch == 4
                 and c.spec.depth == 3 and (c.spec.loss is None or (c.dtype == "float64" and c.spec.bias))]
    return cases


def smoke_cases(mutants: Sequence[Mutant] = MUTANTS, seed: int = 0) -> list[Case]:
    """The cases the mutants show in (``Mutant.shows_in``), each once, at ``seed``."""
    return list(dict.fromkeys(replace(m.shows_in, seed=seed) for m in mutants if m.shows_in is not None))


def false_alarm_grid(seed: int = 0, quick: bool = False, smoke: bool = False) -> list[Case]:
    """The audit grid, and in quick form also its networks at batch 1 (where the seed ports
    that take one sample at a time apply); ``smoke``: the mutants' own cases, and each MLP
    case at batch 1 too."""
    if smoke:
        cases = smoke_cases(seed=seed)
        return cases + [replace(c, batch=1) for c in cases if isinstance(c.spec, NetworkSpec)]
    cases = audit_grid(seed, quick)
    if quick:
        cases += [c for c in default_grid(seed=seed) if c.batch == 1 and c.spec.depth == 3]
    return cases


@dataclass(frozen=True)
class MutantResult:
    mutant: Mutant
    cases_run: int
    failing: tuple[str, ...]
    #: Failing cases whose diagnosis names the mutant's bug.
    right: tuple[str, ...]
    #: One failing case the diagnosis got wrong, with the diagnosis it gave.
    wrong_example: tuple[str, str] | None = None

    @property
    def caught(self) -> bool:
        return bool(self.failing)

    @property
    def diagnosed_right(self) -> bool:
        return self.caught and len(self.right) == len(self.failing)


@dataclass(frozen=True)
class FalseAlarms:
    implementation: str
    cases_run: int
    alarms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Audit:
    mutants: tuple[MutantResult, ...]
    correct: tuple[FalseAlarms, ...]
    cases: int
    seconds: float = field(default=0.0)

    @property
    def kill_rate(self) -> float:
        return sum(m.caught for m in self.mutants) / len(self.mutants)

    @property
    def accuracy(self) -> float:
        caught = [m for m in self.mutants if m.caught]
        return sum(m.diagnosed_right for m in caught) / len(caught) if caught else 0.0

    @property
    def case_accuracy(self) -> float:
        failing = sum(len(m.failing) for m in self.mutants)
        return sum(len(m.right) for m in self.mutants) / failing if failing else 0.0

    @property
    def false_alarms(self) -> int:
        return sum(len(c.alarms) for c in self.correct)

    @property
    def passed(self) -> bool:
        return self.kill_rate >= KILL_RATE_NEEDED and self.accuracy >= ACCURACY_NEEDED and not self.false_alarms


def _run(driver: Driver, case: Case):
    """A case's rows and, when it fails, its diagnosis."""
    outcome = case_outcome(driver, case)
    return outcome.rows, outcome.diagnosis


def audit_mutants(mutants: Sequence[Mutant], cases: Sequence[Case] | None, progress=None,
                  seed: int = 0) -> list[MutantResult]:
    """Every mutant on every case (``cases`` None: each mutant on the case it shows in), case by
    case (so the oracle's what-if predictions for a case are computed once for all the mutants
    that fail on it)."""
    if cases is None:
        plan = {case: [i for i, m in enumerate(mutants) if m.shows_in is not None
                       and replace(m.shows_in, seed=seed) == case] for case in smoke_cases(mutants, seed)}
    else:
        plan = {case: list(range(len(mutants))) for case in cases}
    drivers = [Driver(Target(f"mutant:{m.name}", m.adapter(), __name__)) for m in mutants]
    ran, failing, right = ([[] for _ in mutants] for _ in range(3))
    wrong: list[tuple[str, str] | None] = [None] * len(mutants)
    for case, chosen in plan.items():
        for i in chosen:
            rows, diagnosis = _run(drivers[i], case)
            if any(r.verdict != "not_applicable" for r in rows):
                ran[i].append(case.id)
            if not any(r.unexpected for r in rows):
                continue
            failing[i].append(case.id)
            if mutants[i].expected.met(None if diagnosis is None else diagnosis.names(), rows, case):
                right[i].append(case.id)
            elif wrong[i] is None:
                wrong[i] = (case.id, diagnosis.line() if diagnosis else next(r.message for r in rows if r.unexpected))
        if progress:
            progress(case)
    return [MutantResult(m, len(ran[i]), tuple(failing[i]), tuple(right[i]), wrong[i]) for i, m in enumerate(mutants)]


def false_alarms(name: str, cases: Sequence[Case]) -> FalseAlarms:
    """A correct implementation on the grid: a failure is a false alarm unless it is one of its
    recorded known defects (a seed port keeps its own, and the run expects it too)."""
    target = load(name)
    driver, ran, alarms = Driver(target), 0, []
    recorded = known.for_target(known.load(), target)
    for case in cases:
        rows = case_outcome(driver, case, recorded).rows
        ran += any(r.verdict != "not_applicable" for r in rows)
        alarms += [f"{case.id}: {r.check} {r.tensor}: {r.message}" for r in rows if r.unexpected]
    return FalseAlarms(target.name, ran, tuple(alarms))


def run_audit(mutants: Sequence[Mutant] = MUTANTS, quick: bool = False, seed: int = 0,
              correct: Sequence[str] | None = None, progress=None, smoke: bool = False, jobs: int = 1) -> Audit:
    """Every mutant on the audit grid (``smoke``: each on the case it shows in), then the
    ``correct`` implementations (default ``CORRECT``); ``progress(case)`` is called as each
    case is done. ``jobs`` processes share the grid's cases (``audit.pool``) where every
    mutant is one of the library's."""
    correct = CORRECT if correct is None else correct
    started = time.perf_counter()
    cases = None if smoke else audit_grid(seed, quick)
    library = {m.name: m for m in MUTANTS}
    if jobs > 1 and cases is not None and all(library.get(m.name) is m for m in mutants):
        results, checked = _in_pool(jobs, mutants, cases, correct, false_alarm_grid(seed, quick), progress)
    else:
        results = audit_mutants(mutants, cases, progress, seed)
        checked = tuple(false_alarms(name, false_alarm_grid(seed, quick, smoke)) for name in correct)
    count = len(smoke_cases(mutants, seed)) if cases is None else len(cases)
    return Audit(tuple(results), checked, count, time.perf_counter() - started)


def _in_pool(jobs: int, mutants: Sequence[Mutant], cases: Sequence[Case], correct: Sequence[str],
             alarm_cases: Sequence[Case], progress) -> tuple[list[MutantResult], tuple[FalseAlarms, ...]]:
    per_mutant, alarms = in_pool(jobs, _mutant_piece, false_alarms, tuple(m.name for m in mutants), cases, correct,
                                 alarm_cases, progress)
    results = [MutantResult(m, ran, tuple(failing), tuple(right), wrong)
               for m, (ran, failing, right, wrong) in zip(mutants, per_mutant)]
    checked = tuple(FalseAlarms(pieces[0].implementation, sum(p.cases_run for p in pieces),
                                tuple(a for p in pieces for a in p.alarms)) for pieces in alarms.values())
    return results, checked


def _mutant_piece(names: tuple[str, ...], cases: list[Case]) -> list[tuple]:
    """The library's mutants named, on ``cases``, as plain tuples (a pool process's answer)."""
    from conformance.audit.mutants import named

    return [(r.cases_run, r.failing, r.right, r.wrong_example) for r in audit_mutants(named(list(names)), cases)]


# ---- the printed table ---------------------------------------------------------------------------

def table(audit: Audit):
    import pandas as pd

    return pd.DataFrame.from_records([{
        "mutant": m.mutant.name,
        "caught": "caught" if m.caught else "MISSED",
        "failing cases": f"{len(m.failing)}/{m.cases_run}",
        "diagnosis": ("right" if m.diagnosed_right else "WRONG" if m.caught else "—"),
        "right in": f"{len(m.right)}/{len(m.failing)}",
        "expected": str(m.mutant.expected),
    } for m in audit.mutants])


def render(audit: Audit) -> str:
    from conformance.reporting.verdicts import aligned

    lines = [aligned(table(audit)), ""]
    for m in audit.mutants:
        if m.caught and not m.diagnosed_right and m.wrong_example:
            case, said = m.wrong_example
            lines.append(f"{m.mutant.name}: expected {m.mutant.expected}; {case}: {said}")
    for c in audit.correct:
        verdict = "no false alarm" if not c.alarms else f"{len(c.alarms)} FALSE ALARMS, e.g. {c.alarms[0]}"
        lines.append(f"{c.implementation}: {verdict} ({c.cases_run} cases ran)")
    caught = sum(m.caught for m in audit.mutants)
    right = sum(m.diagnosed_right for m in audit.mutants)
    lines += [
        "",
        f"kill rate: {audit.kill_rate:.0%} ({caught} of {len(audit.mutants)} mutants caught)",
        f"diagnosis accuracy: {audit.accuracy:.0%} ({right} of {caught} caught mutants diagnosed right in every "
        f"failing case; {audit.case_accuracy:.1%} of failing cases)",
        f"false alarms: {audit.false_alarms} (on {', '.join(c.implementation for c in audit.correct)})",
        f"{audit.cases} cases per implementation, {audit.seconds:.0f} s",
        "audit: " + ("PASS" if audit.passed else "FAIL") + f" (needs kill rate {KILL_RATE_NEEDED:.0%}, "
        f"accuracy ≥ {ACCURACY_NEEDED:.0%}, no false alarm)",
    ]
    return "\n".join(lines)
