"""Gradescope's results.json: each part that loses points says what, where and why, and gives
the smallest failing case to run, as Markdown, naming nothing the student cannot see there."""

from __future__ import annotations

import json

from conformance.audit.showcases import mlp_case
from conformance.grading import feedback, gradescope
from conformance.grading.scores import Entry, Grade
from conformance.judge.results import ResultRow
from conformance.reporting.verdicts import TargetResult

SMALL, LARGE = mlp_case("sigmoid", "half_mse", depth=2), mlp_case("sigmoid", "half_mse", depth=4)
WHY = "bias[0] ×0.25 = 1/batch (only this) (the error enters at layer 0; wrong: bias[0])"


def _row(case, check: str, tensor: str, verdict: str, detail: str = "", diagnosis: str = "") -> ResultRow:
    error = 3.0 if verdict == "fail" else 0.0
    return ResultRow("sheet", case.id, "", "sigmoid", True, "half_mse", case.batch, case.dtype, 0, check, tensor,
                     error, error, "[1]", "1e-6", verdict, detail, diagnosis=diagnosis)


DETAIL = "bias[0][1]: got 0.43, PyTorch 1.73 (|error| 1.3 exceeds tolerance 0.000694)"
RESULT = TargetResult("students/ada.ipynb", "sheet", tuple(
    [_row(c, "forward", "output", "pass") for c in (SMALL, LARGE)]
    + [_row(c, "gradient", "bias[0]", "fail", DETAIL, WHY) for c in (SMALL, LARGE)]))
GRADE = Grade((Entry("forward", 2.0, 2.0, 2, 2), Entry("gradient", 0.0, 4.0, 0, 2)))


def _results() -> dict:
    data = gradescope.results(RESULT, GRADE, ["cell 4 raised ValueError: demo"], [SMALL, LARGE])
    return json.loads(json.dumps(data))  # what the file holds


def test_every_output_is_markdown_as_gradescope_names_it():
    data = _results()
    assert data["output_format"] == data["test_output_format"] == "md"
    assert all(test["output_format"] == "md" for test in data["tests"])


def test_a_part_that_loses_points_says_what_where_why_and_the_smallest_case():
    gradient = next(t for t in _results()["tests"] if t["name"] == "gradient")
    output = gradient["output"]
    assert "layer 0 (the first), its bias" in output and "got 0.43, PyTorch 1.73" in output
    assert "**Why:** bias\\[0\\] ×0.25 = 1/batch" in output
    code = output.split("```python\n", 1)[1].split("```", 1)[0]
    assert f"# case {SMALL.id}" in code  # the smaller of the two failing cases
    namespace: dict = {}
    exec(code, namespace)  # it runs as written and gives the values to compare with
    assert namespace["expected_db0"].shape == namespace["b0"].shape


def test_a_part_with_full_points_is_one_line_and_nothing_refers_to_a_file():
    data = _results()
    forward = next(t for t in data["tests"] if t["name"] == "forward")
    assert forward["output"] == "2 of 2 cases pass." and forward["status"] == "passed"
    text = json.dumps(data)
    assert "feedback file" not in text and "summary.md" not in text and "results.csv" not in text


def test_notebook_notes_say_how_cells_are_counted():
    output = _results()["output"]
    assert feedback.CELL_NUMBERS in output and "cell 4 raised ValueError" in output
