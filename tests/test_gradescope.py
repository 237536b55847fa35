"""Gradescope's results.json: each part that loses points says what, where and why, and gives
the smallest failing case to run, as Markdown, naming nothing the student cannot see there;
the case is written as calls of the student's own functions where the assignment says how
(``REPRODUCE``), and only in PyTorch's layout where it does not."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from conformance.audit.showcases import mlp_case
from conformance.cases.layer_grid import sequence_specs
from conformance.cases.spec import Case
from conformance.examples.assignment_004 import students
from conformance.grading import feedback, gradescope
from conformance.grading.assignment import AssignmentError, read_settings
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


# ---- the smallest failing case in the assignment's own API --------------------------------

ASSIGNMENT = Path(students.__file__).parent / "assignment.py"
GIVEN = read_settings(ASSIGNMENT).reproduce


def _run_as_the_student(code: str, student_cell: str) -> dict:
    """The reproduction run after the student's own cell, as in their notebook."""
    namespace: dict = {}
    exec(student_cell, namespace)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, namespace)
    return namespace


@pytest.mark.parametrize("case", [
    pytest.param(SMALL, id="a half-MSE case"),
    pytest.param(mlp_case("sigmoid", None, depth=3), id="an upstream gradient's case"),
])
def test_the_reproduction_calls_the_students_functions_and_a_correct_one_gives_pytorchs_values(case):
    code = feedback.case_code(case, GIVEN)
    assert "net = NeuralNetwork(" in code and "net.backward(x, " in code
    ns = _run_as_the_student(code, students.CORRECT)
    np.testing.assert_allclose(ns["output"], ns["expected_output"], rtol=1e-10, atol=1e-12)
    for layer in range(case.spec.depth):
        np.testing.assert_allclose(np.asarray(ns["W_grads"][layer]).T, ns[f"expected_dW{layer}"], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(np.reshape(ns["b_grads"][layer], -1), ns[f"expected_db{layer}"], rtol=1e-8,
                                   atol=1e-12)


def test_the_reproduction_shows_the_wrong_students_own_error():
    code = feedback.case_code(SMALL, GIVEN)
    ns = _run_as_the_student(code, students.CORRECT.replace(students.BIAS_SUM, students.BIAS_MEAN))
    assert not np.allclose(np.reshape(ns["b_grads"][0], -1), ns["expected_db0"])


@pytest.mark.parametrize("case, given", [
    pytest.param(Case(sequence_specs()[0], 3, "float64"), GIVEN, id="a layer-sequence network"),
    pytest.param(SMALL, tuple((k, v) for k, v in GIVEN if k != "loss"), id="a loss case with no loss template"),
    pytest.param(SMALL, (), id="an assignment without REPRODUCE"),
])
def test_where_the_assignment_does_not_say_how_the_case_is_written_in_pytorchs_layout_only(case, given):
    code = feedback.case_code(case, given)
    assert "NeuralNetwork" not in code and "# your code" not in code and "expected_output" in code


@pytest.mark.parametrize("value, words", [
    pytest.param("'net = f()'", "must be a dict", id="not a dict"),
    pytest.param("{'backward': 'f(x)'}", "no 'build' template", id="no build template"),
    pytest.param("{'build': 'f({depth})'}", "names {depth}", id="an unknown placeholder"),
    pytest.param("{'build': 'f({n_in.real})'}", "names {n_in.real}", id="an attribute of a placeholder"),
    pytest.param("{'build': 'f({)'}", "a literal brace is written twice", id="a lone brace"),
    pytest.param("{'build': 'f()', 'train': 'g()'}", "REPRODUCE names 'train'", id="an unknown template"),
])
def test_an_unusable_reproduce_is_a_one_line_error(tmp_path, value, words):
    path = tmp_path / "assignment.py"
    path.write_text(f"REPRODUCE = {value}\nclass A: pass\n")
    with pytest.raises(AssignmentError, match="REPRODUCE") as error:
        read_settings(path)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_gradescope_writes_the_smallest_case_in_the_assignments_api():
    data = json.loads(json.dumps(gradescope.results(RESULT, GRADE, [], [SMALL, LARGE], given=GIVEN)))
    output = next(t for t in data["tests"] if t["name"] == "gradient")["output"]
    code = output.split("```python\n", 1)[1].split("```", 1)[0]
    assert f"# case {SMALL.id}" in code and "net = NeuralNetwork(" in code and "MeanSquaredError()" in code
