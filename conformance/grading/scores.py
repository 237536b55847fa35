"""A student's score from the instructor's points: each entry (a check family, or a
required group of cases) earns its points times the share of its cases that pass.

A case counts against an entry when any of its rows in that entry fails or
errors; an entry none of whose cases ran earns nothing; a submission that
could not be loaded scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from conformance.judge.coverage import Requirement
from conformance.grading.assignment import FAMILIES, Settings
from conformance.judge.results import ResultRow
from conformance.cases.spec import Case


@dataclass(frozen=True)
class Entry:
    """One line of a grade: its name, points earned and possible, cases passing and run."""

    name: str
    score: float
    max_score: float
    passed: int
    ran: int

    @property
    def output(self) -> str:
        if not self.ran:
            return "no case of this part ran"
        return f"{self.passed} of {self.ran} cases pass"


@dataclass(frozen=True)
class Grade:
    entries: tuple[Entry, ...]

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.entries), 2)

    @property
    def max_score(self) -> float:
        return round(sum(e.max_score for e in self.entries), 2)


def entry_rows(key: str, rows: Sequence[ResultRow], by_id: dict[str, Case]) -> list[ResultRow]:
    """The rows that count for one entry: its family's, or its requirement's cases', that ran."""
    ran = [r for r in rows if r.verdict != "not_applicable" and r.check not in ("coverage", "case")]
    if key in FAMILIES:
        return [r for r in ran if r.check == key]
    requirement = Requirement.parse(key)
    return [r for r in ran if r.case in by_id and requirement.matches(by_id[r.case])]


def entry(key: str, points: float, rows: Sequence[ResultRow], by_id: dict[str, Case]) -> Entry:
    chosen = entry_rows(key, rows, by_id)
    cases = {r.case for r in chosen}
    failing = {r.case for r in chosen if r.verdict in ("fail", "error")}
    passed = len(cases - failing)
    score = round(points * passed / len(cases), 2) if cases else 0.0
    return Entry(key, score, points, passed, len(cases))


def grade(settings: Settings, rows: Sequence[ResultRow], cases: Sequence[Case], loaded: bool = True) -> Grade:
    """The grade the rows earn under the assignment's points (all zero when not loaded)."""
    by_id = {case.id: case for case in cases}
    rows = rows if loaded else ()
    return Grade(tuple(entry(key, points, rows, by_id) for key, points in settings.points))
