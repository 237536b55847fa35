"""The cases that did not apply, summarised: one entry per implementation × reason with its
cases, instead of one result row per case.

A graded class runs a few hundred of a grid's thousands of cases per student; the rest
are not applicable, each for a reason the adapter (or the assignment) gave. Kept as rows
they were most of a report (and of its cost); kept here they are the same facts: which
cases did not apply to which implementation, and why. ``split`` takes them out of a
run's rows, ``NotApplicable.rows`` puts them back as the rows they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from conformance.cases.spec import Case
from conformance.judge.results import ResultRow, row


@dataclass(frozen=True)
class Skipped:
    """The cases of one implementation that did not apply for one reason, in grid order."""

    implementation: str
    reason: str
    cases: tuple[str, ...]


@dataclass(frozen=True)
class NotApplicable:
    """A run's cases that did not apply: its ``Skipped`` entries (per implementation, in the order
    the run went, each implementation's reasons in the order first given), and every
    implementation of the run in that order (one that ran no case has no result row left)."""

    entries: tuple[Skipped, ...] = ()
    order: tuple[str, ...] = ()

    def of(self, implementation: str) -> tuple[Skipped, ...]:
        return tuple(e for e in self.entries if e.implementation == implementation)

    def counts(self, implementation: str) -> dict[str, int]:
        """Each reason of ``implementation`` with how many cases it excluded, in the order first given."""
        return {e.reason: len(e.cases) for e in self.of(implementation)}

    def cases(self, implementation: str) -> set[str]:
        return {case for e in self.of(implementation) for case in e.cases}

    def implementations(self, names: Iterable[str]) -> list[str]:
        """``names`` (those with result rows) and the implementations with skipped cases, in run order."""
        present = dict.fromkeys(names) | dict.fromkeys(e.implementation for e in self.entries)
        ordered = [name for name in self.order if name in present]
        return ordered + [name for name in present if name not in set(ordered)]

    def rows(self, cases: Mapping[str, Case]) -> list[ResultRow]:
        """The ``not_applicable`` rows these entries stand for (``cases`` by id)."""
        return [row(e.implementation, cases[case], "case", "*", "not_applicable", e.reason)
                for e in self.entries for case in e.cases]


def is_skipped(result: ResultRow) -> bool:
    """A row saying that its case as a whole did not apply."""
    return result.check == "case" and result.verdict == "not_applicable"


def split(rows: Sequence[ResultRow], order: Sequence[str] = ()) -> tuple[list[ResultRow], NotApplicable]:
    """The rows of cases that applied, and the ones that did not, summarised."""
    kept: list[ResultRow] = []
    grouped: dict[tuple[str, str], list[str]] = {}
    for result in rows:
        if is_skipped(result):
            grouped.setdefault((result.implementation, result.detail), []).append(result.case)
        else:
            kept.append(result)
    names = dict.fromkeys(list(order) + [r.implementation for r in rows])
    entries = tuple(Skipped(name, reason, tuple(cases)) for (name, reason), cases in grouped.items())
    return kept, NotApplicable(entries, tuple(names))
