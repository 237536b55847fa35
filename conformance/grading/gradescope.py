"""Gradescope's ``results.json`` for one submission: the overall ``score``, and one test per
part of the grade (a check family or a required group) with ``score``, ``max_score``,
``output`` and ``visibility``; the loading notes and the verdict go in the top-level
``output``. The format is the one Gradescope's autograder documentation specifies for
``/autograder/results/results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from conformance.reporting.verdicts import HEADINGS, TargetResult, problem_lines
from conformance.grading.assignment import FAMILIES
from conformance.grading.scores import Grade


def results(result: TargetResult, grade: Grade, notes: Sequence[str], visibility: str = "visible") -> dict:
    lines = [f"{result.source}: {HEADINGS.get(result.verdict, result.verdict)}"]
    if result.load_error:
        lines.append(result.load_error)
    lines += [f"note: {note}" for note in notes]
    tests = []
    for entry in grade.entries:
        rows = [r for r in result.rows if r.check == entry.name] if entry.name in FAMILIES else list(result.rows)
        output = entry.output
        if entry.score < entry.max_score and (found := problem_lines(rows, 3, "the feedback file")):
            output += "\n" + "\n".join(found)
        tests.append({"name": entry.name, "score": entry.score, "max_score": entry.max_score,
                      "output": output, "visibility": visibility,
                      "status": "passed" if entry.score >= entry.max_score else "failed"})
    return {"score": grade.score, "output": "\n".join(lines), "visibility": visibility,
            "stdout_visibility": "hidden", "tests": tests}


def write(path: Path | str, result: TargetResult, grade: Grade, notes: Sequence[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results(result, grade, notes), indent=2) + "\n", encoding="utf-8")
    return path
