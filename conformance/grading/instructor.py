"""The instructor's side of grading, decided in a worker that loads only the assignment.

Before any student's code runs, one sandboxed worker loads the assignment file
alone (no submission: its adapter's ``self.submission`` is None there) and says
what its adapter is called, what it can do, and for every case of the grid
whether it applies (``supports()``) and why not. That ``Plan`` decides, for every
student alike, which cases count; the required coverage (``REQUIRE``) is checked
against it here (``shortfall``), so that an assignment whose own adapter cannot
meet its requirement on the grid is said once to the instructor, before every
student comes out ``incomplete``. Each graded
target then carries the plan (``running.planned``): its worker is asked only to
run the cases the plan chose, never which ones apply.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from conformance.cases.spec import Case
from conformance.grading.assignment import AssignmentError, Settings
from conformance.judge.coverage import coverage_rows
from conformance.judge.results import row
from conformance.running.driver import ImplementationFault
from conformance.running.isolation import WorkerDriver
from conformance.running.limits import Limits
from conformance.running.loading import Locator
from conformance.running.planned import Plan
from conformance.running.targets import Target

#: Cases asked about per request: a reply stays far below the wire format's header bound.
CHUNK = 400


def alone(settings: Settings) -> Target:
    """The assignment as a target with no submission."""
    path = settings.path
    locator = Locator("assignment", str(path.resolve()), given=str(path), submission=None,
                      forbid=settings.forbid)
    return Target(f"{path} (the assignment alone)", source=str(path), locator=locator)


def decide(settings: Settings, cases: Sequence[Case], limits: Limits = Limits()) -> Plan:
    """The plan the assignment alone gives for ``cases`` (``AssignmentError`` when it cannot)."""
    driver = WorkerDriver(alone(settings), limits)
    try:
        described = driver.describe()
        reasons: list[str | None] = []
        for start in range(0, len(cases), CHUNK):
            driver.start_case()
            reasons += driver.supports_each(cases[start:start + CHUNK])
    except ImplementationFault as fault:
        hint = (" (FORBID binds the assignment's own imports too: list in FORBID only what no one may use)"
                if "which this assignment forbids" in str(fault) else "")
        raise AssignmentError(f"{settings.path}: the assignment alone cannot decide which cases apply: "
                              f"{fault}{hint}") from None
    finally:
        driver.close()
    return Plan(described["name"], described["description"], described["capabilities"],
                tuple((case.id, reason) for case, reason in zip(cases, reasons)))


def shortfall(settings: Settings, plan: Plan, cases: Sequence[Case]) -> str | None:
    """Why no submission can meet REQUIRE on these cases, the assignment's own adapter
    leaving out some required kind of case; None when one can."""
    if settings.require is None:
        return None
    if settings.require.input_gradient and not plan.capabilities.input_gradient:
        return (f"{settings.path}: REQUIRE asks for the input gradient, which the assignment's adapter does "
                f"not compute (capabilities.input_gradient): every submission will be incomplete")
    decided = [row(plan.name, case, "case", "*", "not_applicable" if reason else "pass", reason or "")
               for case, reason in zip(cases, (plan.reason(c.id) for c in cases))]
    if missing := coverage_rows(plan.name, settings.require, cases, decided, plan.applicable()):
        detail = missing[0].detail.replace("--require", "REQUIRE", 1)
        return (f"{settings.path}: the assignment's own adapter cannot meet its REQUIRE on this grid, so every "
                f"submission will be incomplete: {detail}")
    return None


def planned(targets: Sequence[Target], plan: Plan, settings: Settings) -> list[Target]:
    """Graded targets carrying the plan, their workers told what the assignment forbids."""
    return [replace(t, plan=plan, locator=replace(t.locator, forbid=settings.forbid)) for t in targets]
