"""Declared coverage: each kind of case an adapter says it can run, and how many of the
grid's cases of that kind it ran, so that a declared capability never silently goes
untested.

A *family* is one declared capability: backward from an upstream gradient (``vjp``),
each loss of ``Capabilities.losses``, each layer kind of ``layers``, each penalty of
``penalties`` and each dtype of ``dtypes``. A family with cases on the grid of which the
target ran none makes a failing ``coverage`` row, so the target's verdict is
``incomplete`` with the reason, exactly as a ``--require`` term that did not run. A family
the grid has no case of at all (a grid narrowed on purpose, ``--dtype float32``) is
stated, not held against the target: the default grids, quick included, have a case of
every family an adapter can declare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from conformance.cases.layers import SequenceSpec
from conformance.cases.spec import Case
from conformance.contract.adapter import Capabilities
from conformance.judge.results import ResultRow, cases_checked, row


@dataclass(frozen=True)
class Family:
    """One declared capability: its name as the verdict line shows it, and what it means in words."""

    name: str
    meaning: str

    def has(self, case: Case) -> bool:
        return _PREDICATES[self.name.partition(" ")[0]](case, self.name.partition(" ")[2])


@dataclass(frozen=True)
class FamilyCoverage:
    """How many of the grid's cases of a declared family ran (``ran`` of ``on_grid``), and
    when none did, why (the reason the adapter gave for an example case)."""

    family: Family
    ran: int
    on_grid: int
    reason: str = ""

    @property
    def missing(self) -> bool:
        return self.ran == 0


def _is_sequence(case: Case) -> bool:
    return isinstance(case.spec, SequenceSpec)


_PREDICATES: dict[str, Callable[[Case, str], bool]] = {
    "vjp": lambda case, _: case.mode == "vjp",
    "loss": lambda case, name: case.mode == name,
    "layer": lambda case, kind: _is_sequence(case) and kind in case.spec.kinds,
    "penalty": lambda case, _: _is_sequence(case) and case.spec.l2 > 0,
    "dtype": lambda case, name: case.dtype == name,
}


def declared_families(capabilities: Capabilities) -> tuple[Family, ...]:
    """Every family an adapter's capabilities declare, in a stable order."""
    found = [Family("vjp", "backward from an upstream gradient")] if capabilities.vjp else []
    found += [Family(f"loss {name}", f"its own {name} loss") for name in sorted(capabilities.losses)]
    found += [Family(f"layer {kind}", f"{kind} layers") for kind in sorted(capabilities.layers)]
    found += [Family(f"penalty {name}", f"the {name} penalty") for name in sorted(capabilities.penalties)]
    found += [Family(f"dtype {name}", name) for name in sorted(capabilities.dtypes, reverse=True)]
    return tuple(found)


def members_of(family: Family, capabilities: Capabilities, cases: Sequence[Case]) -> list[Case]:
    """The grid's cases of a family. A dtype's are those the adapter's other declarations allow:
    a dtype declared beside one loss is missing only when no case of that loss in it ran."""
    members = [case for case in cases if family.has(case)]
    if family.name.startswith("dtype "):
        members = [case for case in members if capabilities.why_not(case.spec, case.batch, case.dtype) is None]
    return members


def family_coverage(capabilities: Capabilities, cases: Sequence[Case],
                    rows: Sequence[ResultRow]) -> tuple[FamilyCoverage, ...]:
    """For each declared family: the grid's cases of it, how many of them the target ran, and
    for a family none of which ran, the reason an example case gave."""
    skipped = {r.case: r.detail for r in rows if r.check == "case" and r.verdict == "not_applicable"}
    seen = cases_checked(rows)
    out = []
    for family in declared_families(capabilities):
        members = members_of(family, capabilities, cases)
        ran = sum(1 for case in members if case.id in seen and case.id not in skipped)
        reason = "" if ran else (f"e.g. {members[0].id}: {skipped.get(members[0].id, 'not run')}" if members
                                 else "the grid has no such case")
        out.append(FamilyCoverage(family, ran, len(members), reason))
    return tuple(out)


def declared_rows(implementation: str, coverage: Sequence[FamilyCoverage], cases: Sequence[Case],
                  capabilities: Capabilities | None = None) -> list[ResultRow]:
    """A failing ``coverage`` row per declared family of which no case ran (none when no case
    ran at all: that verdict, ``nothing ran``, says more)."""
    out = []
    if all(item.missing for item in coverage):
        return out
    for item in coverage:
        if not item.missing or not item.on_grid:
            continue
        allowed = members_of(item.family, capabilities, cases) if capabilities is not None else []
        example = next(iter(allowed), None) or next(case for case in cases if item.family.has(case))
        out.append(row(implementation, example, "coverage", item.family.name, "fail",
                       f"declares {item.family.meaning} ({item.family.name}), but none of the grid's "
                       f"{item.on_grid} cases of it ran ({item.reason})"))
    return out
