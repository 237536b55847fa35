"""Recorded known defects (expected failures) and how they turn ``fail`` rows into
``expected_fail``.

The file has one defect per line::

    implementation | case glob | tensor glob | what is wrong

Globs use ``fnmatch`` over the case id (``2layer-3.4.1-relu-nobias-b4-float64-half_sse``)
and the row's tensor (``weight[0]``, ``bias[1]``, ``output``, ``loss``, or
``*`` for a row about the whole case): ``weight*`` covers every weight,
``[*]`` the whole-case rows alone (brackets make ``*`` literal). A recorded
defect explains a ``fail`` row, or an ``error`` row when the defect makes the
implementation raise. Blank lines and ``#`` comments are ignored.
Expectations are strict: a recorded defect that does not show up in a case
it covers is itself reported as a failure, so a fix is noticed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.judge.results import ResultRow, row
from conformance.cases.spec import Case

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "implementations" / "expectations.txt"


@dataclass(frozen=True)
class Expectation:
    implementation: str
    cases: str
    tensors: str
    reason: str
    #: From the suite's own file: applies to the bundled implementation of that name only.
    bundled: bool = False

    def covers(self, implementation: str, case_id: str) -> bool:
        return implementation == self.implementation and fnmatch.fnmatchcase(case_id, self.cases)

    def explains(self, result: ResultRow) -> bool:
        return (
            result.verdict in ("fail", "error")
            and self.covers(result.implementation, result.case)
            and fnmatch.fnmatchcase(result.tensor, self.tensors)
        )


def parse(text: str, source: str = "expectations", bundled: bool = False) -> tuple[Expectation, ...]:
    expectations = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 4 or not all(parts):
            raise ValueError(
                f"{source}:{number}: expected 'implementation | case glob | tensor glob | reason', got {line!r}"
            )
        expectations.append(Expectation(*parts, bundled=bundled))
    return tuple(expectations)


def load(path: Path | str | None = None) -> tuple[Expectation, ...]:
    """The suite's recorded known defects of its bundled implementations (no ``path``), or
    those of a file the user passes on purpose (``--expectations FILE``)."""
    bundled = path is None
    path = Path(path) if path is not None else DEFAULT_FILE
    if not path.exists():
        if bundled:
            return ()
        raise FileNotFoundError(f"no such expectations file: {path}")
    return parse(path.read_text(encoding="utf-8"), str(path), bundled=bundled)


def for_target(expectations: tuple[Expectation, ...], target) -> tuple[Expectation, ...]:
    """The expectations that apply to a target, by its identity: the suite's own only to a
    bundled implementation, a user's file to the targets it names. What a submission calls
    itself plays no part."""
    return tuple(e for e in expectations
                 if e.implementation == target.name and (target.builtin or not e.bundled))


def for_implementation(expectations: tuple[Expectation, ...], implementation: str) -> tuple[Expectation, ...]:
    return tuple(e for e in expectations if e.implementation == implementation)


def apply(rows: list[ResultRow], case: Case, expectations: tuple[Expectation, ...]) -> list[ResultRow]:
    """Mark the failures that recorded defects explain; flag defects that did not occur."""
    if not rows:
        return rows
    implementation = rows[0].implementation
    applicable = [e for e in expectations if e.covers(implementation, case.id)]
    if not applicable or any(r.check == "case" and r.verdict == "not_applicable" for r in rows):
        return rows
    marked, seen = [], set()
    for result in rows:
        matches = [e for e in applicable if e.explains(result)]
        if matches:  # every defect that explains the row occurred, the first one names it
            seen.update(matches)
            result = replace(result, verdict="expected_fail", known_defect=matches[0].reason)
        marked.append(result)
    if any(r.verdict == "error" for r in marked):
        return marked
    for expectation in applicable:
        if expectation not in seen:
            marked.append(row(
                implementation, case, "contract", expectation.tensors, "fail",
                f"recorded known defect did not occur (fixed? remove it from the expectations file): "
                f"{expectation.reason}",
            ))
    return marked
