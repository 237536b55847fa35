"""The class view of a grading run: one name per mistake whatever case showed it, every student
(loaded or not) in the table and in ``grades.csv``, the page's table sortable."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from conformance.audit.mutants import MUTANTS
from conformance.cases.spec import Case, NetworkSpec
from conformance.grading import summary
from conformance.grading.scores import Entry, Grade
from conformance.judge.results import ResultRow
from conformance.reporting import escape
from conformance.reporting.files import Report
from conformance.reporting.html import report_html
from conformance.reporting.markdown import summary_markdown
from conformance.reporting.verdicts import TargetResult
from conformance.runner import case_outcome
from conformance.running.targets import Target

#: Mutants whose bug no hypothesis names (their causes are "not diagnosed").
OUTSIDE = {"last_weight_gradient_from_preactivation", "accumulates_gradients", "stale_input_cache"}
MLP = [m for m in MUTANTS if m.name not in OUTSIDE and isinstance(m.shows_in.spec, NetworkSpec)]


def _deeper_with_one_output(case: Case) -> Case:
    """The same network one layer deeper and with a single output: other layers, other sizes."""
    spec = case.spec
    sizes = list(spec.sizes[:-1]) + [spec.sizes[-2], 1]
    deeper = NetworkSpec.mlp(sizes, spec.hidden_activation, spec.output_activation, spec.layers[0].bias, spec.loss)
    return replace(case, spec=deeper)


def _causes(mutant, case: Case) -> list[str] | None:
    """The class's words for what the mutant gets wrong in ``case`` (None: its bug did not show)."""
    outcome = case_outcome(Target(mutant.name, mutant.adapter(), "test"), case, ())
    if outcome.diagnosis is None or not mutant.expected.met_by(outcome.diagnosis.findings, case):
        return None
    return summary.causes(TargetResult("student.ipynb", "sheet", tuple(outcome.rows)))


@pytest.mark.e2e  # about a hundred diagnosed cases
def test_a_mistake_has_one_name_whatever_layers_and_sizes_the_case_has():
    compared = {}
    for mutant in MLP:
        here, there = _causes(mutant, mutant.shows_in), _causes(mutant, _deeper_with_one_output(mutant.shows_in))
        if here is not None and there is not None:
            compared[mutant.name] = (here, there)
    assert len(compared) >= len(MLP) // 2, f"only {sorted(compared)} showed their bug in both cases"
    differ = {name: pair for name, pair in compared.items() if pair[0] != pair[1]}
    assert not differ, f"named differently in two cases: {differ}"
    for here, _ in compared.values():
        assert all("[0]" not in cause and not cause.startswith("layer") for cause in here), here


@pytest.mark.parametrize("diagnosis, cause", [
    pytest.param("layers 0, 1 and 2: the tanh derivative's formula in terms of the output is applied to the "
                 "pre-activation (1 − z² where 1 − a² is due) (the error enters at layer 2; wrong: input)",
                 ["the tanh derivative's formula in terms of the output is applied to the pre-activation "
                  "(1 − z² where 1 − a² is due)"], id="a derivative at several layers keeps its formula"),
    pytest.param("bias[0], bias[1] ×0.25 = 1/batch (only these) (the error enters at layer 1; wrong: bias[0])",
                 ["bias[·] ×1/batch"], id="a factor keeps its name and loses its value"),
    pytest.param("the input gradient skips layer 0's tanh derivative (it is the gradient at layer 0's output "
                 "times W; the weight and bias gradients are right); bias[1] ×0.5 = 1/2 (only this) "
                 "(the error enters at layer 0; wrong: input)",
                 ["the input gradient skips layer 0's tanh derivative (it is the gradient at layer 0's output "
                  "times W; the weight and bias gradients are right)", "bias[·] ×1/2"],
                 id="a semicolon inside brackets does not split a bug in two"),
    pytest.param("the loss gradient misses the mean's 1/(batch·outputs) (it is ×5 = batch·outputs) — or, as this "
                 "case's data cannot tell them apart, the loss gradient misses the mean's 1/outputs (it is ×5 = "
                 "outputs) (the error enters at layer 1; wrong: input)",
                 ["the loss gradient misses the mean's 1/(batch·outputs) (it is ×batch·outputs)"],
                 id="the first of alternatives the case cannot tell apart"),
])
def test_a_diagnosis_becomes_the_class_words_for_its_bugs(diagnosis, cause):
    row = _row("case", "bias[0]", "fail", 1.0, diagnosis)
    assert summary.causes(TargetResult("s.ipynb", "sheet", (row,))) == cause


def _row(case: str, tensor: str, verdict: str, error: float = float("nan"), diagnosis: str = "") -> ResultRow:
    return ResultRow("sheet", case, "3.4.2", "tanh", True, "", 4, "float64", 0, "gradient", tensor, error, error,
                     "", "", verdict, "", diagnosis=diagnosis)


def _grade(score: float) -> Grade:
    return Grade((Entry("gradient", score, 10.0, 1, 1),))


STUDENTS = [
    TargetResult("students/ok.ipynb", "sheet", (_row("c1", "input", "pass"),)),
    TargetResult("students/=HYPERLINK(1).ipynb", "sheet",
                 (_row("c1", "bias[0]", "fail", 0.5,
                       "bias[0] ×0.25 = 1/batch (only this) (the error enters at layer 0)"),)),
    TargetResult("students/renamed.ipynb", "", load_error="students/renamed.ipynb does not define NeuralNetwork"),
]


def test_every_student_loaded_or_not_has_a_score_verdict_and_reason():
    grades = {r.source: _grade(10.0 if r.verdict == "pass" else 5.0) for r in STUDENTS}
    grades["students/renamed.ipynb"] = _grade(0.0)
    table = summary.class_table(STUDENTS, grades).set_index("student")
    assert list(table.index) == [r.source for r in STUDENTS]
    assert table.loc["students/renamed.ipynb", "verdict"] == "not loaded"
    assert "does not define NeuralNetwork" in table.loc["students/renamed.ipynb", "reason"]
    assert table.loc["students/=HYPERLINK(1).ipynb", "reason"] == "bias[·] ×1/batch"
    assert table.loc["students/ok.ipynb", "reason"] == "every case that ran passes"
    assert list(table["max"]) == [10.0] * len(STUDENTS)


def test_the_page_and_the_summary_list_every_student_in_a_sortable_table():
    grades = {r.source: _grade(5.0) for r in STUDENTS}
    rows = pd.DataFrame([r.as_dict() for s in STUDENTS for r in s.rows])
    report = Report(rows, class_view=summary.class_table(STUDENTS, grades),
                    class_summary=summary.class_summary(STUDENTS))
    page, text = report_html(report), summary_markdown(report)
    assert '<table class="sortable">' in page and "table.sortable th" in page
    for student in STUDENTS:
        assert escape.markdown(student.source) in text and f"<td>{student.source}</td>" in page
    assert "## Mistakes in the class" in text and escape.markdown("bias[·] ×1/batch") in text


def test_a_gradebook_cell_is_never_a_formula():
    assert escape.spreadsheet("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert escape.spreadsheet("students/a.ipynb") == "students/a.ipynb" and escape.spreadsheet(5.0) == 5.0
