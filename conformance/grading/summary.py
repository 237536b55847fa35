"""The class summary: how many students made which mistake, diagnoses grouped by cause.

A student's mistakes are the parts of the diagnosis of their worst diagnosed
case, with the case's particulars taken out (``bias[0], bias[1] ×0.25 =
1/batch (only these)`` and ``bias[1] ×0.25 = 1/batch`` are one misconception);
a student with two mistakes counts under both. Failures the diagnosis could
not explain are counted by the check and tensor kind that fail, and
submissions that could not be loaded as such.
"""

from __future__ import annotations

import re
from typing import Sequence

import pandas as pd

from conformance.reporting.verdicts import TargetResult, diagnosis_line, problems

_INDEX = re.compile(r"\[\d+\]")
_REPEATED = re.compile(r"(\w+)\[·\](?:, \1\[·\])+")
_TAIL = re.compile(r"\s+\(.*$|:\s.*$")


def _misconception(part: str) -> str:
    """One part of a diagnosis without its case's particulars (layers, shapes, factors' reasons)."""
    text = _REPEATED.sub(r"\1[·]", _INDEX.sub("[·]", part.strip()))
    return _TAIL.sub("", text).strip()


def causes(result: TargetResult) -> list[str]:
    """One student's mistakes in words shared across students (none when nothing is wrong)."""
    if result.load_error:
        return ["not loaded"]
    if diagnosed := diagnosis_line(result.rows):
        text = diagnosed.split("): ", 1)[-1].split(" (the error enters")[0]
        return sorted(dict.fromkeys(m for part in text.split(";") if (m := _misconception(part))))
    if found := problems(result.rows):
        first = found[0]
        word = "wrong" if first.worst.verdict == "fail" else "an error"
        return [f"{first.check} {word} in {_INDEX.sub('[·]', first.tensor)} (not diagnosed)"]
    return []


def class_summary(results: Sequence[TargetResult]) -> pd.DataFrame:
    """One row per cause: how many students, and which."""
    groups: dict[str, list[str]] = {}
    for result in results:
        for found in causes(result):
            groups.setdefault(found, []).append(result.source)
    records = [{"mistake": name, "students": len(members), "who": ", ".join(members)}
               for name, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))]
    return pd.DataFrame.from_records(records, columns=["mistake", "students", "who"])
