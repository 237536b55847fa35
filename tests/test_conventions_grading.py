"""An assignment that does not accept another convention: ``OTHER_CONVENTION = "fail"`` makes a
forward (and loss) that follows a common convention other than the declared ones fail, the
convention named as the reason, while its gradients are still judged under that convention (a
correct backward keeps its points, a wrong one is still named). The default accepts it."""

from __future__ import annotations

import pytest

from conformance.cases.conventions import used_by
from conformance.cases.grid import default_grid
from conformance.cases.spec import NetworkSpec
from conformance.grading import scores
from conformance.grading.assignment import AssignmentError, Settings, read_settings
from conformance.reporting.verdicts import TargetResult, two_questions
from conformance.runner import REFUSED_CHECKS, case_outcome
from conformance.running.driver import Driver
from conformance.running.targets import Target
from conformance.settings import OTHER_CONVENTION, Checks

from outside import conventions as outside


def _graded(adapter, uses: str, other_convention: str) -> tuple[TargetResult, list]:
    driver = Driver(Target(adapter.name, adapter, "test"))
    cases = [c for c in default_grid(quick=True) if uses in used_by(c.spec)
             and adapter.capabilities.why_not(c.spec, c.batch, c.dtype) is None]
    checks = Checks(other_convention=other_convention)
    rows = tuple(r for case in cases for r in case_outcome(driver, case, checks=checks).rows)
    return TargetResult(adapter.name, adapter.name, rows, cases=len(cases)), cases


def test_by_default_another_convention_is_accepted():
    result, _ = _graded(outside.LayerNormEps8, "layernorm", "accept")
    assert result.verdict == "other convention"


def test_refused_a_correct_forward_under_another_convention_fails_with_the_convention_named():
    result, cases = _graded(outside.LayerNormEps8, "layernorm", "fail")
    assert result.verdict == "fail"
    refused = [r for r in result.rows if r.verdict == "fail"]
    assert refused, "no case followed another convention"
    for r in refused:
        assert r.check in REFUSED_CHECKS and r.fitted, f"{r.case} {r.check} {r.tensor}: {r.message}"
        assert r.diagnosis == ("its forward follows layer-norm eps 1e-8, not PyTorch's meaning; no other convention "
                               "is accepted here"), r.diagnosis
        assert "got" in r.detail and "PyTorch" in r.detail, r.detail
    assert "backward consistent with its own forward: yes" in two_questions(result)
    assert not result.conventions_fitted()


def test_refused_the_forward_loses_its_points_and_a_correct_backward_keeps_its_own():
    result, cases = _graded(outside.LayerNormEps8, "layernorm", "fail")
    settings = Settings(path=None, points=(("forward", 2.0), ("gradient", 3.0)))
    grade = {e.name: e for e in scores.grade(settings, result.rows, cases).entries}
    refused = {r.case for r in result.rows if r.verdict == "fail"}
    assert grade["forward"].passed == grade["forward"].ran - len(refused) < grade["forward"].ran
    assert grade["gradient"].score == grade["gradient"].max_score


def test_refused_a_wrong_backward_is_still_named_under_the_convention_its_forward_follows():
    result, _ = _graded(outside.WrongNormBackward, "layernorm", "fail")
    gradients = [r for r in result.rows if r.verdict == "fail" and r.check == "gradient" and r.fitted]
    assert gradients, "no wrong gradient was judged under the fitted eps"
    for r in gradients:
        assert "backward treats the mean and variance as constants" in r.diagnosis, f"{r.case}: {r.diagnosis}"
    assert all("no other convention is accepted" in r.diagnosis
               for r in result.rows if r.verdict == "fail" and r.check in REFUSED_CHECKS and r.fitted)


def test_code_following_pytorchs_conventions_is_not_touched_by_the_setting():
    accepted, _ = _graded(outside.NormNetAdapter, "layernorm", "accept")
    refused, _ = _graded(outside.NormNetAdapter, "layernorm", "fail")
    assert accepted.verdict == refused.verdict == "pass"
    assert accepted.rows == refused.rows


def test_an_unknown_setting_is_refused_where_it_is_made():
    with pytest.raises(ValueError, match="other_convention must be one of accept, fail"):
        Checks(other_convention="warn")


def _assignment(tmp_path, line: str):
    path = tmp_path / "assignment.py"
    path.write_text(f"{line}\nclass A: pass\n")
    return path


@pytest.mark.parametrize("value", [pytest.param(v, id=v) for v in OTHER_CONVENTION])
def test_the_assignment_setting_is_read_as_written(tmp_path, value):
    assert read_settings(_assignment(tmp_path, f"OTHER_CONVENTION = {value!r}")).other_convention == value


def test_without_the_setting_another_convention_is_accepted(tmp_path):
    assert read_settings(_assignment(tmp_path, "API = ('f',)")).other_convention == "accept"


@pytest.mark.parametrize("line", [
    pytest.param("OTHER_CONVENTION = 'reject'", id="an unknown word"),
    pytest.param("OTHER_CONVENTION = False", id="a flag"),
    pytest.param("OTHER_CONVENTION = 0.5", id="a share of the points"),
    pytest.param("OTHER_CONVENTION = ACCEPT", id="an expression"),
])
def test_an_unusable_assignment_setting_is_one_line_error(tmp_path, line):
    with pytest.raises(AssignmentError, match="OTHER_CONVENTION") as raised:
        read_settings(_assignment(tmp_path, line))
    assert "\n" not in str(raised.value)


ASSIGNMENT = '''
import numpy as np
from conformance import Adapter, Capabilities, Gradients

API = ("mse",)
POINTS = {"forward": 1, "loss": 1, "gradient": 2}
OTHER_CONVENTION = "SETTING"
FORBID = []


class Sheet(Adapter):
    name = "sheet"
    capabilities = Capabilities(output_activations={"identity"}, losses={"mse"}, vjp=False, max_depth=1)

    def build(self, spec, params):
        self.w, self.b = params.weights[0], params.biases[0]

    def forward(self, x):
        return x @ self.w.T + (0 if self.b is None else self.b)

    def loss(self, x, targets):
        value, dx, dw, db = self.submission.mse(x, self.w, self.b, targets)
        return value, Gradients(dx, (dw,), (None if self.b is None else db,))
'''

#: A student's linear model whose "mse" sums over the outputs and averages over the batch.
STUDENT = '''
def mse(x, w, b, targets):
    r = x @ w.T + (0 if b is None else b) - targets
    dy = 2 * r / len(x)
    return (r ** 2).sum() / len(x), dy @ w, dy.T @ x, dy.sum(axis=0)
'''


@pytest.mark.e2e
@pytest.mark.parametrize("setting, verdict, lost", [
    pytest.param("accept", "other convention", 0.0, id="accepted it conforms under another convention"),
    pytest.param("fail", "fail", 1.0, id="refused its loss fails and the reason is in the feedback"),
])
def test_conformance_grade_follows_the_assignments_setting(tmp_path, setting, verdict, lost):
    import pandas as pd

    from conformance.grading import grade
    from conformance.grading.feedback import file_name
    from helpers import captured

    assignment = tmp_path / "sheet.py"
    assignment.write_text(ASSIGNMENT.replace("SETTING", setting))
    (tmp_path / "alice.py").write_text(STUDENT)

    def grid(seed):  # a linear model's mse cases with several outputs, where the two reductions differ
        return [c for c in default_grid(seed=seed) if c.spec.loss == "mse" and isinstance(c.spec, NetworkSpec)
                and c.spec.depth == 1 and c.spec.layers[0].activation == "identity" and c.spec.sizes[-1] > 1][:4]
    code, out, err = captured(grade.command, assignment, [str(tmp_path / "alice.py")], out=tmp_path / "r",
                              seed=0, grid=grid)
    targets = pd.read_csv(tmp_path / "r" / "targets.csv", keep_default_na=False)
    assert code == (0 if setting == "accept" else 1), (out, err)
    assert list(targets["verdict"]) == [verdict], targets.to_dict("records")
    assert targets["max score"][0] - targets["score"][0] == pytest.approx(lost)
    feedback = (tmp_path / "r" / "feedback" / file_name(str(tmp_path / "alice.py"))).read_text()
    refusal = "its forward follows mse summed over the outputs and averaged over the batch, not PyTorch's meaning"
    assert (refusal in feedback) == (setting == "fail"), feedback
