"""The class view: every student with score, verdict and one-line reason, and how many
students made which mistake.

A student's mistakes are the bugs named by the diagnosis of their worst diagnosed
case, each in full with only the case's particulars taken out: where it is (``layers
0, 1 and 2: ``, ``bias[0], bias[1]``), the factor's value for this batch (``×0.25 =
1/batch`` is ``×1/batch``) and ``(only these)``; so ``bias[0], bias[1] ×0.25 = 1/batch
(only these)`` and ``bias[1] ×0.25 = 1/batch (only this)`` are one mistake. A student
with two mistakes counts under both. Failures the diagnosis could not explain are
counted by the check and tensor kind that fail, a required kind of case that did not
run by its requirement, and submissions that could not be loaded as such. The same
words are each student's reason in the class table and the gradebook's CSV.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import pandas as pd

from conformance.grading.scores import Grade
from conformance.reporting.verdicts import TargetResult, diagnosis_line, problems

_INDEX = re.compile(r"\[\d+\]")
_REPEATED = re.compile(r"(\w+)\[·\](?:, \1\[·\])+")
_LOCATION = re.compile(r"^(?:layers? \d+(?:, \d+)*(?: and \d+)?(?: \(the output layer\))?|the output layer): ")
_VALUE = re.compile(r"×-?[\d.]+(?:e-?\d+)? = ")
_ONLY = re.compile(r" \(only th(?:is|ese)\)")
_SHAPE = re.compile(r"\((\d+, )*\d+,?\)")
_OUTPUT_LAYER = re.compile(r"layer \d+ \(the output layer\)")
#: A layer other than the first by its number: where it is (the first is also what it is).
_LAYER = re.compile(r"\blayer [1-9]\d*\b")
_ALTERNATIVES = " — or, as this case's data cannot tell them apart, "
NOT_LOADED = "not loaded"
#: The columns of the class table and of ``grades.csv``.
COLUMNS = ("student", "score", "max", "verdict", "reason")


def _outside_brackets(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where no bracket is open."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    return parts + [text[start:]]


def _without_location(diagnosis: str) -> str:
    """The bugs a diagnosis names, without its closing ``(where it enters; wrong: …)`` and
    without the alternatives the case could not tell apart."""
    named = diagnosis.rstrip()
    if named.endswith(")"):
        depth = 0
        for i in range(len(named) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(named[i], 0)
            if depth == 0:
                named = named[:i].rstrip()
                break
    return named.split(_ALTERNATIVES, 1)[0]


def misconception(part: str) -> str:
    """One named bug without its case's particulars (where, shapes, the factor's value, ``only these``)."""
    text = _LOCATION.sub("", part.strip())
    text = _REPEATED.sub(r"\1[·]", _INDEX.sub("[·]", text))
    text = _LAYER.sub("layer ·", _OUTPUT_LAYER.sub("the output layer", text))
    text = _SHAPE.sub(lambda m: re.sub(r"\d+", "·", m[0]), text)
    return _ONLY.sub("", _VALUE.sub("×", text)).strip()


def causes(result: TargetResult) -> list[str]:
    """One student's mistakes in words shared across students (none when nothing is wrong)."""
    if result.load_error:
        return [NOT_LOADED]
    found: list[str] = []
    if (line := diagnosis_line(result.rows)) and not (diagnosis := line.split("): ", 1)[-1]).startswith("unexplained"):
        found = [m for part in _outside_brackets(_without_location(diagnosis), "; ") if (m := misconception(part))]
    if not found and (wrong := [p for p in problems(result.rows) if p.check != "coverage"]):
        first = wrong[0]
        word = "wrong" if first.worst.verdict == "fail" else "an error"
        found = [f"{first.check} {word} in {_INDEX.sub('[·]', first.tensor)} (not diagnosed)"]
    found += [f"incomplete: {r.detail.split(' (e.g. ')[0]}" for r in result.rows
              if r.check == "coverage" and r.verdict == "fail"]
    return list(dict.fromkeys(found))


def reason(result: TargetResult) -> str:
    """A student's one line: why they were not loaded, their mistakes, or why nothing is wrong."""
    if result.load_error:
        return result.load_error
    if found := causes(result):
        return "; ".join(found)
    return {"not run": "the run stopped before this submission's turn",
            "nothing ran": "no case of the assignment ran"}.get(result.verdict, "every case that ran passes")


def class_table(results: Sequence[TargetResult], grades: Mapping[str, Grade]) -> pd.DataFrame:
    """Every student, loaded or not: score, the most they could score, verdict and reason."""
    records = [(r.source, grades[r.source].score, grades[r.source].max_score, r.verdict, reason(r))
               for r in results]
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def class_summary(results: Sequence[TargetResult]) -> pd.DataFrame:
    """One row per cause: how many students, and which."""
    groups: dict[str, list[str]] = {}
    for result in results:
        for found in causes(result):
            groups.setdefault(found, []).append(result.source)
    records = [{"mistake": name, "students": len(members), "who": ", ".join(members)}
               for name, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))]
    return pd.DataFrame.from_records(records, columns=["mistake", "students", "who"])
