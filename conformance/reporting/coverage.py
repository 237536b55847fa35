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


def coverage_statement(coverage: Sequence[FamilyCoverage]) -> str:
    """Each declared family and how many of its cases ran, as a clause for the verdict line:
    `` (vjp 120, loss half_mse 0 of 28, dtype float64 74)``; a family the grid has no case of
    says so. Empty when nothing was declared (a target that was not loaded)."""
    words = []
    for item in coverage:
        if not item.on_grid:
            words.append(f"{item.family.name} not on this grid")
        elif item.missing:
            words.append(f"{item.family.name} 0 of {item.on_grid}")
        else:
            words.append(f"{item.family.name} {item.ran}")
    return f" ({', '.join(words)})" if words else ""
