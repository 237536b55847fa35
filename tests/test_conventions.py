"""Conventions first, then causes: code that follows another convention (norm eps, a loss's
reductions, log(p + ε)) gets the convention verdict with the convention named; declaring it makes
the code conform; a wrong backward under such a convention still fails with its bug named; the
seed whose loss clips where its gradient does not stays a defect. The adapters are
``outside/conventions.py``, written from the README alone."""

from __future__ import annotations

import pytest

from conformance.cases.conventions import OWN_REDUCTIONS, PYTORCH, Conventions, used_by
from conformance.cases.grid import default_grid
from conformance.contract.adapter import Capabilities
from conformance.contract.rules import capabilities_problem
from conformance.judge import expectations as known
from conformance.reporting.verdicts import VERDICTS, TargetResult, convention_line, exit_code_of, two_questions
from conformance.runner import case_outcome
from conformance.running.driver import Driver
from conformance.running.modules import import_hint
from conformance.running.replies import capabilities_reply
from conformance.running.targets import Target, load
from conformance.running.driver import ImplementationFault
from conformance.running.worker import describe_loaded

from outside import conventions as outside


def _result(adapter, uses: str) -> TargetResult:
    """The adapter on the quick grid's cases it takes that use ``uses`` (a layer kind, ``loss``, ``log``)."""
    driver = Driver(Target(adapter.name, adapter, "test"))
    cases = [c for c in default_grid(quick=True) if uses in used_by(c.spec)
             and adapter.capabilities.why_not(c.spec, c.batch, c.dtype) is None]
    rows = tuple(r for case in cases for r in case_outcome(driver, case).rows)
    assert {r.dtype for r in rows} == {"float64", "float32"}, f"{adapter.name}: both dtypes are to run"
    return TargetResult(adapter.name, adapter.name, rows, cases=len(cases))


def _unexpected(result: TargetResult) -> list[str]:
    return [f"{r.case} {r.check} {r.tensor}: {r.message}" for r in result.rows if r.unexpected]


@pytest.mark.parametrize("adapter, uses, named", [
    pytest.param(outside.LayerNormEps8, "layernorm", "layer-norm eps 1e-8", id="a layer norm with eps 1e-8"),
    pytest.param(outside.BatchNormEps3, "batchnorm", "batch-norm eps 0.001", id="a batch norm with eps 1e-3"),
    pytest.param(outside.SummedMSE, "loss", "mse summed over the outputs and averaged over the batch",
                 id="an mse summed over the outputs"),
    pytest.param(outside.SumEverythingMSE, "loss", "mse summed over the outputs and summed over the batch",
                 id="an mse summed over everything"),
    pytest.param(outside.LogEpsSoftmax, "log", "log(p + 1e-8) in the cross-entropy",
                 id="a cross-entropy of log(p + 1e-8)"),
    pytest.param(outside.FullL2Penalty, "l2", "L2 penalty 1·λ·Σ‖W‖²", id="an L2 penalty without the half"),
])
def test_correct_code_under_another_convention_gets_the_convention_verdict_with_it_named(adapter, uses, named):
    result = _result(adapter, uses)
    assert not _unexpected(result), _unexpected(result)
    assert result.verdict == "other convention", result.verdict
    line = convention_line(result)
    assert f"its forward differs from PyTorch's: {named} reproduces it" in line, line
    assert VERDICTS[result.verdict].exit == 0
    fitted = len(result.conventions_fitted() and {r.case for r in result.rows if r.fitted})
    assert two_questions(result) == ("backward consistent with its own forward: yes · matches PyTorch's meaning: "
                                     f"under another convention ({fitted} case{'s' * (fitted != 1)})")


@pytest.mark.parametrize("adapter, uses, declared", [
    pytest.param(outside.LayerNormEps8Declared, "layernorm", "layer-norm eps 1e-8", id="layer-norm eps 1e-8"),
    pytest.param(outside.BatchNormEps3Declared, "batchnorm", "batch-norm eps 0.001", id="batch-norm eps 1e-3"),
    pytest.param(outside.SummedMSEDeclared, "loss", "mse summed over the outputs", id="mse summed over the outputs"),
    pytest.param(outside.LogEpsSoftmaxDeclared, "log", "log(p + 1e-8)", id="log(p + 1e-8)"),
])
def test_declaring_the_convention_makes_the_same_code_conform_and_the_report_shows_it(adapter, uses, declared):
    result = _result(adapter, uses)
    assert not _unexpected(result), _unexpected(result)
    assert result.verdict == "pass"
    assert not any(r.fitted for r in result.rows)
    assert declared in convention_line(result)


def test_a_wrong_backward_under_another_convention_still_fails_with_the_bug_named():
    result = _result(outside.WrongNormBackward, "layernorm")
    assert result.verdict == "fail"
    assert "backward consistent with its own forward: NO (" in two_questions(result)
    failing = [r for r in result.rows if r.verdict == "fail" and r.check == "gradient" and "layernorm" in r.case]
    assert failing, "the layer norm's wrong backward passed"
    for r in failing:
        assert "backward treats the mean and variance as constants" in r.diagnosis, f"{r.case}: {r.diagnosis}"
    fitted = [r for r in failing if r.fitted]
    assert fitted, "no case fitted the layer norm's eps"
    assert all("its forward follows layer-norm eps 1e-8" in r.diagnosis for r in fitted)


def test_a_loss_clipped_where_its_gradient_is_not_stays_a_defect_and_says_why():
    target = load("single_layer_relu").loaded_here()
    driver = Driver(target)
    expectations = known.for_target(known.load(), target)
    cases = [c for c in default_grid(quick=True) if c.large and c.spec.loss == "softmax_cross_entropy"
             and target.adapter.capabilities.why_not(c.spec, c.batch, c.dtype) is None]
    assert cases
    rows = [r for case in cases for r in case_outcome(driver, case, expectations).rows]
    gradients = [r for r in rows if r.check == "gradient"]
    assert {r.verdict for r in gradients} == {"expected_fail"}, [r.message for r in gradients]
    assert all("but its backward ignores it" in r.diagnosis for r in gradients if r.verdict == "expected_fail")
    assert TargetResult(target.name, target.name, tuple(rows), cases=len(cases)).verdict == "known defects"


def test_the_convention_verdict_lives_in_the_one_table_and_exits_zero():
    assert exit_code_of(["other convention"]) == 0
    assert exit_code_of(["other convention", "fail"]) == 1


@pytest.mark.parametrize("conventions", [
    pytest.param(PYTORCH, id="PyTorch's"),
    pytest.param(Conventions(layernorm_eps=1e-8, output_reduction="sum", l2_scale=1.0, log_clip=1e-7),
                 id="several declared"),
])
def test_declared_conventions_cross_the_wire_as_plain_data(conventions):
    class Declares(outside.NormNetAdapter):
        capabilities = Capabilities(layers={"dense"}, mlp=False, conventions=conventions)

    assert capabilities_reply(describe_loaded(Declares)["capabilities"]).conventions == conventions


@pytest.mark.parametrize("raw", [
    pytest.param({"layernorm_eps": "1e-8"}, id="a field missing"),
    pytest.param(dict(vars(PYTORCH), layernorm_eps=-1.0), id="a negative eps"),
    pytest.param(dict(vars(PYTORCH), batch_reduction="median"), id="an unknown reduction"),
    pytest.param(dict(vars(PYTORCH), log_eps=[1]), id="a list for a number"),
])
def test_malformed_conventions_from_a_worker_are_refused(raw):
    plain = describe_loaded(outside.NormNetAdapter)["capabilities"]
    with pytest.raises(ImplementationFault):
        capabilities_reply(plain | {"conventions": raw})


def test_conventions_that_are_not_a_conventions_value_are_named():
    assert "Conventions(...)" in capabilities_problem(Capabilities(conventions={"layernorm_eps": 1e-8}))
    with pytest.raises(ValueError, match="layernorm_eps"):
        Conventions(layernorm_eps=float("nan"))


def test_a_target_importing_its_folder_as_a_package_is_told_why_it_cannot():
    hint = import_hint(ModuleNotFoundError("No module named 'adapters'", name="adapters"), "adapters/derived.py")
    assert "a file target runs from a private copy of its own folder" in hint
    assert "adapters.derived:Class" in hint
    assert import_hint(ModuleNotFoundError("x", name="numpyy"), "adapters/derived.py") == ""


@pytest.mark.parametrize("loss", [pytest.param(name, id=name) for name in OWN_REDUCTIONS])
def test_each_loss_written_as_terms_and_its_own_reductions_is_pytorchs_loss(loss):
    torch = pytest.importorskip("torch")
    from conformance.cases.torch_layers import loss_value
    from conformance.cases.torch_ops import conventional_loss

    generator = torch.Generator().manual_seed(3)
    y = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    targets = (torch.randint(0, 3, (4,), generator=generator) if loss in ("softmax_cross_entropy", "hinge")
               else torch.rand(4, 3, generator=generator, dtype=torch.float64))
    outputs, batch = OWN_REDUCTIONS[loss]
    spelled = conventional_loss(loss, y, targets, Conventions(output_reduction=outputs, batch_reduction=batch))
    assert float(spelled) == pytest.approx(float(loss_value(loss, y, targets)), rel=1e-12)


def test_the_oracle_follows_a_declared_l2_scale_and_reduction():
    from dataclasses import replace

    from conformance.cases.layer_grid import penalised_networks
    from conformance.cases.spec import Case
    from conformance.runner import case_data, oracle

    spec = next(s for s in penalised_networks() if s.loss == "mse" and s.l2)
    case = Case(spec, 4)
    penalty = spec.l2 * sum(float((case_data(case).params[name] ** 2).sum()) for name in spec.penalised())
    ours = oracle(case).loss
    assert oracle(replace(case, conventions=Conventions(l2_scale=1.0))).loss == pytest.approx(ours + penalty / 2)
    summed = oracle(replace(case, conventions=Conventions(output_reduction="sum"))).loss
    outputs = case_data(case).targets.shape[1]
    assert summed - penalty / 2 == pytest.approx(outputs * (ours - penalty / 2))


def test_the_report_names_the_fitted_convention_and_both_answers():
    import pandas as pd

    from conformance.reporting.tables import findings

    result = _result(outside.LayerNormEps8, "layernorm")
    table = pd.DataFrame([r.as_dict() for r in result.rows])
    ((name, label, lines),) = findings(table)
    assert label == VERDICTS["other convention"].label
    assert lines[0].startswith("backward consistent with its own forward: yes · matches PyTorch's meaning: under")
    assert "layer-norm eps 1e-8 reproduces it" in lines[1]
