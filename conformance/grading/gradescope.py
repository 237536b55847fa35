"""Gradescope's ``results.json`` for one submission: the overall ``score``, and one test per
part of the grade (a check family or a required group) with ``score``, ``max_score``,
``output`` and ``visibility``; the loading notes and the verdict go in the top-level
``output``. The format is the one Gradescope's autograder specification gives for
``/autograder/results/results.json``; every output is Markdown (``output_format`` and
``test_output_format`` ``md``).

A part that loses points says, in the output the student reads on the platform, what is
wrong (the check, the layer and tensor, the worst element, both values, the tolerance),
why (the diagnosis), and the smallest failing case of that part written out to run; it
refers to nothing the student cannot see there.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from conformance.cases.spec import Case
from conformance.grading import feedback
from conformance.grading.scores import Entry, Grade, entry_rows
from conformance.reporting.escape import markdown as md
from conformance.reporting.verdicts import HEADINGS, TargetResult, diagnosis_line, problems

#: Gradescope's name for Markdown output.
MARKDOWN = "md"
#: Kinds of problem listed per part; the count of the rest follows.
SHOWN = 4


def _why(rows) -> list[str]:
    if line := diagnosis_line(rows):
        return ["", f"**Why:** {md(line.split('): ', 1)[-1])}"]
    return []


def part_output(entry: Entry, result: TargetResult, cases: Sequence[Case],
                given: tuple[tuple[str, str], ...] = ()) -> str:
    """A part's Markdown: how many cases pass and, where points were lost, what, where, why
    and the smallest failing case (in the assignment's API where ``given`` says how)."""
    lines = [entry.output + "."]
    if entry.score >= entry.max_score or not entry.ran:
        return lines[0]
    rows = entry_rows(entry.name, result.rows, {c.id: c for c in cases})
    mine = replace(result, rows=tuple(rows))
    lines += ["", *feedback.wrong_lines(mine, SHOWN)]
    if (more := len(problems(rows)) - SHOWN) > 0:
        lines.append(f"- … and {more} more kind{'s' * (more > 1)} of problem in this part")
    lines += _why(rows)
    if (case := feedback.smallest_failing(mine, cases)) is not None:
        lines += ["", "**The smallest failing case**, to run in your notebook and compare with the expected "
                  "values:", "", "```python", feedback.case_code(case, given), "```"]
    return "\n".join(lines)


def results(result: TargetResult, grade: Grade, notes: Sequence[str], cases: Sequence[Case] = (),
            visibility: str = "visible", given: tuple[tuple[str, str], ...] = ()) -> dict:
    lines = [f"**{md(result.source)}**: {HEADINGS.get(result.verdict, result.verdict)}"]
    if result.load_error:
        lines += ["", md(result.load_error)]
    if notes:
        lines += ["", f"While running your notebook ({feedback.CELL_NUMBERS}):", ""]
        lines += [f"- {md(note)}" for note in notes]
    tests = [{"name": entry.name, "score": entry.score, "max_score": entry.max_score,
              "output": part_output(entry, result, cases, given), "output_format": MARKDOWN, "visibility": visibility,
              "status": "passed" if entry.score >= entry.max_score else "failed"} for entry in grade.entries]
    return {"score": grade.score, "output": "\n".join(lines), "output_format": MARKDOWN,
            "test_output_format": MARKDOWN, "visibility": visibility, "stdout_visibility": "hidden", "tests": tests}


def write(path: Path | str, result: TargetResult, grade: Grade, notes: Sequence[str],
          cases: Sequence[Case] = (), given: tuple[tuple[str, str], ...] = ()) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results(result, grade, notes, cases, given=given), indent=2) + "\n", encoding="utf-8")
    return path
