"""The class view: every student with score, verdict and one-line reason, and how many
students made which mistake.

A student's mistakes are the bugs named by the diagnosis of their worst diagnosed
case, each in full with only the case's particulars taken out: where it is (``layers
0, 1 and 2: ``, ``bias[0], bias[1]``), the factor's value for this batch (``×0.25 =
1/batch`` is ``×1/batch``) and ``(only these)``; so ``bias[0], bias[1] ×0.25 = 1/batch
(only these)`` and ``bias[1] ×0.25 = 1/batch (only this)`` are one mistake. A student
with two mistakes counts under both (``reporting.brief.misconception``: the console groups
a target's cases by the same words). Failures the diagnosis could not explain are
counted by the check and tensor kind that fail, a required kind of case that did not
run by its requirement, and submissions that could not be loaded as such. The same
words are each student's reason in the class table and the gradebook's CSV.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from conformance.grading.scores import Grade
from conformance.reporting.brief import misconception, outside_brackets, without_location
from conformance.reporting.verdicts import TargetResult, diagnosis_line, problems

NOT_LOADED = "not loaded"
#: The columns of the class table and of ``grades.csv``.
COLUMNS = ("student", "score", "max", "verdict", "reason")


def causes(result: TargetResult) -> list[str]:
    """One student's mistakes in words shared across students (none when nothing is wrong)."""
    if result.load_error:
        return [NOT_LOADED]
    found: list[str] = []
    if (line := diagnosis_line(result.rows)) and not (diagnosis := line.split("): ", 1)[-1]).startswith("unexplained"):
        found = [m for part in outside_brackets(without_location(diagnosis), "; ") if (m := misconception(part))]
    if not found and (wrong := [p for p in problems(result.rows) if p.check != "coverage"]):
        first = wrong[0]
        word = "wrong" if first.worst.verdict == "fail" else "an error"
        found = [f"{first.check} {word} in {misconception(first.tensor)} (not diagnosed)"]
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
    return _table(results, [(grades[r.source].score, grades[r.source].max_score) for r in results])


def class_table_of_sheet(results: Sequence[TargetResult], sheet: pd.DataFrame) -> pd.DataFrame:
    """The class table of a grading merged from its shards: the scores as their ``targets.csv``
    gave them (one row per student, in the order of ``results``)."""
    return _table(results, [(float(score), float(most)) for score, most in zip(sheet["score"], sheet["max score"])])


def _table(results: Sequence[TargetResult], marks: Sequence[tuple[float, float]]) -> pd.DataFrame:
    records = [(r.source, score, most, r.verdict, reason(r)) for r, (score, most) in zip(results, marks, strict=True)]
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def grades_csv(table: pd.DataFrame) -> str:
    """``grades.csv``: the class table, each cell as a spreadsheet shows it as written."""
    from conformance.reporting import escape

    return table.map(escape.spreadsheet).to_csv(index=False, lineterminator="\n")


def class_summary(results: Sequence[TargetResult]) -> pd.DataFrame:
    """One row per cause: how many students, and which."""
    groups: dict[str, list[str]] = {}
    for result in results:
        for found in causes(result):
            groups.setdefault(found, []).append(result.source)
    records = [{"mistake": name, "students": len(members), "who": ", ".join(members)}
               for name, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))]
    return pd.DataFrame.from_records(records, columns=["mistake", "students", "who"])
