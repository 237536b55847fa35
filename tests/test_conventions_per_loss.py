"""A reduction declared per loss (an MSE summed over the outputs beside PyTorch's cross-entropy)
and an L2 penalty divided by the batch size (λ/2m·Σ‖W‖²): each declarable, checked where it is
declared, shown in the report, and fitted when not declared; a bug under either still fails with
its cause named. The adapters are ``outside/conventions.py``, written from the README alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conformance.cases.conventions import OWN_REDUCTIONS, PYTORCH, Conventions
from conformance.contract.adapter import Capabilities
from conformance.reporting.verdicts import convention_line, two_questions
from conformance.running.driver import ImplementationFault
from conformance.running.modules import LoadError, module_from_file
from conformance.running.replies import capabilities_reply
from conformance.running.worker import describe_loaded

from outside import conventions as outside
from test_conventions import _result, _unexpected


@pytest.mark.parametrize("adapter, uses, named", [
    pytest.param(outside.PerLossMLP, "loss", "mse summed over the outputs and averaged over the batch",
                 id="an mse summed over the outputs beside a cross-entropy averaged as PyTorch's"),
    pytest.param(outside.BatchL2Penalty, "l2", "L2 penalty 0.5·λ/batch·Σ‖W‖²",
                 id="an L2 penalty of lambda over 2m"),
])
def test_an_undeclared_per_loss_or_per_batch_convention_is_fitted_and_named(adapter, uses, named):
    result = _result(adapter, uses)
    assert not _unexpected(result), _unexpected(result)
    assert result.verdict == "other convention", result.verdict
    assert set(result.conventions_fitted()) == {named}, result.conventions_fitted()
    assert f"{named} reproduces it" in convention_line(result)


def test_a_per_loss_fit_leaves_the_other_losses_judged_as_pytorchs():
    result = _result(outside.PerLossMLP, "loss")
    fitted_losses = {r.loss for r in result.rows if r.fitted}
    assert fitted_losses == {"mse"}, fitted_losses
    assert any(r.loss == "softmax_cross_entropy" and r.verdict == "pass" for r in result.rows)


@pytest.mark.parametrize("adapter, uses, declared", [
    pytest.param(outside.PerLossMLPDeclared, "loss", "mse summed over the outputs and averaged over the batch",
                 id="mse declared summed over the outputs, cross-entropy left as PyTorch's"),
    pytest.param(outside.BatchL2PenaltyDeclared, "l2", "L2 penalty 0.5·λ/batch·Σ‖W‖²", id="l2_per_batch declared"),
])
def test_declaring_it_makes_the_same_code_conform_and_the_report_shows_it(adapter, uses, declared):
    result = _result(adapter, uses)
    assert not _unexpected(result), _unexpected(result)
    assert result.verdict == "pass", result.verdict
    assert not any(r.fitted for r in result.rows)
    assert f"conventions declared: {declared}" in convention_line(result)


def test_a_bug_under_a_per_loss_convention_fails_with_the_convention_and_the_bug_named():
    result = _result(outside.PerLossMLPBiasBug, "loss")
    assert result.verdict == "fail"
    assert "backward consistent with its own forward: NO (" in two_questions(result)
    fitted = [r for r in result.rows if r.fitted and r.verdict == "fail" and r.check == "gradient"]
    assert fitted, "no failing case was judged under the fitted reduction"
    for r in fitted:
        assert r.diagnosis.startswith("its forward follows mse summed over the outputs and averaged over the "
                                      "batch, not the conventions declared; "), r.diagnosis
        assert "×0.25 = 1/batch" in r.diagnosis and r.tensor == "bias[1]", f"{r.case} {r.tensor}: {r.diagnosis}"


def test_a_penalty_over_2m_whose_gradient_misses_the_1_over_m_fails_and_says_so():
    result = _result(outside.BatchL2PenaltyGradientBug, "l2")
    assert result.verdict == "fail"
    failing = [r for r in result.rows if r.verdict == "fail" and r.check == "gradient"]
    assert failing
    for r in failing:
        assert "its forward follows L2 penalty 0.5·λ/batch·Σ‖W‖² but its backward ignores it" in r.diagnosis, \
            f"{r.case} {r.tensor}: {r.diagnosis}"


@pytest.mark.parametrize("loss", [pytest.param(name, id=name) for name in OWN_REDUCTIONS])
def test_one_declaration_still_covers_every_loss_and_a_per_loss_one_only_its_own(loss):
    every = Conventions(output_reduction="sum", batch_reduction="mean")
    assert every.reductions(loss) == ("sum", "mean")
    other = next(name for name in OWN_REDUCTIONS if name != loss)
    per_loss = Conventions(loss_reductions={other: ("mean", "sum")})
    assert per_loss.reductions(loss) == OWN_REDUCTIONS[loss]
    assert per_loss.reductions(other) == ("mean", "sum")
    assert replace(every, loss_reductions={loss: ("mean", "sum")}).reductions(loss) == ("mean", "sum")


def test_none_in_a_per_loss_pair_keeps_the_reduction_its_name_says():
    assert Conventions(loss_reductions={"sse": ("mean", None)}).reductions("sse") == ("mean", "sum")


@pytest.mark.parametrize("declared, named", [
    pytest.param({"msee": ("sum", "mean")}, "unknown loss 'msee'", id="an unknown loss"),
    pytest.param({"mse": ("sum", "median")}, "pair (over the outputs, over the batch)", id="an unknown reduction"),
    pytest.param({"mse": "sum"}, "pair (over the outputs, over the batch)", id="a reduction that is no pair"),
    pytest.param("mse", "must be a dict of losses", id="a name for the dict"),
    pytest.param({("mse",): ("sum", "mean")}, "unknown loss", id="a key that is no name"),
])
def test_a_per_loss_declaration_that_cannot_be_meant_is_one_clear_error(declared, named):
    with pytest.raises(ValueError, match="Conventions.loss_reductions") as raised:
        Conventions(loss_reductions=declared)
    assert named in str(raised.value), str(raised.value)


def test_the_error_reaches_the_user_as_the_adapter_files_one_line_load_error(tmp_path):
    source = tmp_path / "declares.py"
    source.write_text("from conformance import Adapter, Capabilities, Conventions\n"
                      "class Declares(Adapter):\n"
                      "    capabilities = Capabilities(losses={'mse'},\n"
                      "        conventions=Conventions(loss_reductions={'mse': ('sum', 'average')}))\n")
    with pytest.raises(LoadError) as raised:
        module_from_file(source, "declares.py")
    message = str(raised.value)
    assert "\n" not in message and "loss_reductions['mse']" in message and "'average'" in message, message


def test_l2_per_batch_must_be_a_flag():
    with pytest.raises(ValueError, match="l2_per_batch"):
        Conventions(l2_per_batch=1)


@pytest.mark.parametrize("conventions", [
    pytest.param(Conventions(loss_reductions={"mse": ("sum", "mean"), "hinge": ("mean", "sum")}), id="two losses"),
    pytest.param(Conventions(l2_scale=1.0, l2_per_batch=True, output_reduction="sum"), id="per batch and for all"),
])
def test_per_loss_and_per_batch_conventions_cross_the_wire_as_plain_data(conventions):
    import json

    class Declares(outside.NormNetAdapter):
        capabilities = Capabilities(layers={"dense"}, mlp=False, conventions=conventions)

    plain = json.loads(json.dumps(describe_loaded(Declares)["capabilities"]))
    assert capabilities_reply(plain).conventions == conventions


@pytest.mark.parametrize("field, value", [
    pytest.param("loss_reductions", [["msee", "sum", "mean"]], id="an unknown loss"),
    pytest.param("loss_reductions", [["mse", "sum"]], id="a pair for a triple"),
    pytest.param("loss_reductions", [["mse", "sum", "mean"]] * 8, id="more entries than losses"),
    pytest.param("loss_reductions", "mse", id="a name for the list"),
    pytest.param("l2_per_batch", 1, id="a number for the flag"),
    pytest.param("l2_scale", True, id="a flag for a number"),
])
def test_malformed_per_loss_or_per_batch_conventions_from_a_worker_are_refused(field, value):
    plain = describe_loaded(outside.NormNetAdapter)["capabilities"]
    raw = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(PYTORCH).items()} | {field: value}
    with pytest.raises(ImplementationFault):
        capabilities_reply(plain | {"conventions": raw})


def test_the_oracle_divides_a_per_batch_penalty_by_the_batch_size():
    from conformance.cases.layer_grid import penalised_networks
    from conformance.cases.spec import Case
    from conformance.runner import case_data, oracle

    spec = next(s for s in penalised_networks() if s.loss == "mse" and s.l2)
    case = Case(spec, 4)
    penalty = spec.l2 * sum(float((case_data(case).params[name] ** 2).sum()) for name in spec.penalised())
    ours = oracle(case).loss
    per_batch = oracle(replace(case, conventions=Conventions(l2_per_batch=True))).loss
    assert per_batch == pytest.approx(ours - penalty / 2 + penalty / (2 * case.batch))


def test_every_convention_is_described_and_in_the_adapter_documentation():
    from dataclasses import fields
    from pathlib import Path

    from conformance.cases.conventions import FIELD_DOCS

    assert [f.name for f in fields(Conventions)] == list(FIELD_DOCS)
    text = (Path(__file__).resolve().parent.parent / "docs" / "adapter.md").read_text()
    section = text[text.index("## Conventions"):]
    missing = [f.name for f in fields(Conventions) if f"`{f.name}`" not in section]
    assert not missing, f"docs/adapter.md, Conventions, does not show {missing}"


def test_code_that_does_not_follow_its_declaration_but_pytorchs_is_told_so_by_name():
    result = _result(outside.PerLossMLPDeclaredWrongly, "loss")
    assert not _unexpected(result), _unexpected(result)
    assert result.verdict == "other convention"
    assert set(result.conventions_fitted()) == {"PyTorch's own meaning, not the conventions declared,"}
