"""A graded submission's driver: which cases count is the instructor's side's answer, never
the submission's.

The assignment's adapter runs inside each student's worker, next to the student's
code, which can rewrite it there (wrap the loader, patch ``supports()`` or the
capabilities). So the grader asks a worker that loads only the assignment
(``grading.instructor``) once per run which cases apply and why not, and what the
adapter calls itself and can do; that answer is a ``Plan``. ``PlannedDriver``
answers ``supports`` and ``capabilities`` from the plan and passes on to the
student's worker only the requests that run a case the grader chose.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

from conformance.contract.adapter import Capabilities

#: The reason given for a case the plan holds no answer for (a case not of its grid).
NOT_PLANNED = "not one of the cases the assignment was asked about"


@dataclass(frozen=True)
class Plan:
    """What the assignment alone says: its adapter's name, description and capabilities,
    and for each case id of the grid, None (it counts) or the reason it does not apply."""

    name: str
    description: str
    capabilities: Capabilities
    reasons: tuple[tuple[str, str | None], ...]

    @functools.cached_property
    def _by_id(self) -> dict[str, str | None]:
        return dict(self.reasons)

    def reason(self, case_id: str) -> str | None:
        return self._by_id.get(case_id, NOT_PLANNED)

    def applicable(self) -> list[str]:
        """The ids of the cases that count."""
        return [case_id for case_id, reason in self.reasons if reason is None]


class PlannedDriver:
    """A student's driver whose ``supports``, ``capabilities`` and name come from the plan."""

    def __init__(self, inner, plan: Plan):
        self.inner, self.plan, self.name = inner, plan, inner.name

    @property
    def capabilities(self) -> Capabilities:
        return self.plan.capabilities

    def describe(self) -> dict:
        """The student's worker's load notes (what its own notebook did), under the plan's name
        and capabilities; loading the submission raises as the inner driver does."""
        loaded = self.inner.describe()
        return dict(loaded, name=self.plan.name, description=self.plan.description,
                    capabilities=self.plan.capabilities)

    def start_case(self) -> None:
        self.inner.start_case()

    def expect(self, cases) -> None:
        """Nothing to ask ahead: the plan answers ``supports``."""

    def supports(self, case) -> str | None:
        return self.plan.reason(case.id)

    def observe(self, data):
        return self.inner.observe(data)

    def evaluate(self, data, probes: Sequence):
        return self.inner.evaluate(data, probes)

    def timings(self, data, rules):
        return self.inner.timings(data, rules)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> PlannedDriver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
