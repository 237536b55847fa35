"""Coverage in words: what a target's verdict line says of the kinds of case it declared
and how many of each ran, and the one error an adapter that never ran a case ended in.
The one place these sentences are made, for every report that states coverage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from conformance.running.driver import START_FAILURE

if TYPE_CHECKING:
    from conformance.judge.declared import FamilyCoverage
    from conformance.reporting.verdicts import TargetResult


def uniform_error(result: TargetResult) -> str | None:
    """A target every case of which ended in one and the same error (an adapter that cannot
    be constructed, say) in one line naming it; None when anything else happened."""
    ran = [r for r in result.ran if r.check != "coverage"]
    errors = {r.detail for r in ran}
    if (result.verdict != "error" or len(errors) != 1 or any(r.verdict != "error" for r in ran)
            or not next(iter(errors)).startswith(START_FAILURE)):
        return None
    cases = len({r.case for r in ran})
    return (f"error — every one of the {cases} cases it was offered raised the same error, so no case ran: "
            f"{errors.pop()}")


#: How many families of one kind a line names before it counts them instead.
NAMED_AT_MOST = 5
_PLURALS = {"loss": "losses", "layer": "layer kinds", "dtype": "dtypes", "penalty": "penalties"}


def coverage_statement(coverage: Sequence[FamilyCoverage]) -> str:
    """Each declared family and how many of its cases ran, as a clause for the verdict line:
    `` (vjp 120, loss half_mse 0 of 28, dtype float64 74)``; the families the grid has no case
    of come last, grouped by kind (``not on this grid: loss hinge, mse; 27 layer kinds``).
    Empty when nothing was declared (a target that was not loaded)."""
    words, absent = [], {}
    for item in coverage:
        if not item.on_grid:
            kind, _, name = item.family.name.partition(" ")
            absent.setdefault(kind, []).append(name or kind)
        elif item.missing:
            words.append(f"{item.family.name} 0 of {item.on_grid}")
        else:
            words.append(f"{item.family.name} {item.ran}")
    said = ", ".join(words)
    if absent:
        groups = "; ".join(_absent(kind, names) for kind, names in absent.items())
        said += ("; " if said else "") + f"not on this grid: {groups}"
    return f" ({said})" if said else ""


def _absent(kind: str, names: list[str]) -> str:
    if names == [kind]:  # a family that is its own kind (vjp)
        return kind
    if len(names) > NAMED_AT_MOST:
        return f"{len(names)} {_PLURALS.get(kind, kind + 's')}"
    return f"{kind} {', '.join(names)}"
