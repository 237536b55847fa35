"""Diagnosis: each bug hypothesis names the bug a mutant of the reference has, an unexplained
mismatch says so, and the seeds' known defects get their right one-line diagnosis."""

import io
import logging
import re

import numpy as np
import pytest

from conformance.judge import expectations as known
from conformance.contract.adapter import Gradients
from conformance.diagnosis.diagnose import Diagnosis
from conformance.audit.mlp_mutants import Mutable, MutantAdapter
from conformance.audit.mutants import MUTANTS
from conformance.audit.showcases import SHOWS_IN, mlp_case
from conformance.running.targets import Target, load
from conformance.runner import case_outcome, run_case
from conformance.cases.spec import Case, NetworkSpec
from conformance.implementations.reference_numpy import ReferenceNumpy, activate, activation_derivative


def diagnosis(target: Target, case: Case, expectations=()) -> tuple[Diagnosis, list]:
    outcome = case_outcome(target, case, expectations)
    assert outcome.diagnosis is not None, [r.message for r in outcome.rows if r.unexpected]
    return outcome.diagnosis, outcome.rows


MUTANT = {m.name: m for m in MUTANTS}
case = mlp_case
#: Mutants whose bug no hypothesis names (unexplained, or the contract's rows): their tests are below.
OUTSIDE = {"last_weight_gradient_from_preactivation", "accumulates_gradients", "stale_input_cache"}


@pytest.mark.parametrize("name", [m.name for m in MUTANTS if m.name not in OUTSIDE])
def test_each_hypothesis_names_the_bug_of_the_mutant_that_has_it(smoke_audit, name):
    """Read from the session's smoke audit, which ran every mutant on the case it shows in."""
    (result,) = [m for m in smoke_audit.mutants if m.mutant.name == name]
    assert result.caught and result.diagnosed_right, result.wrong_example


#: A failing row of each kind the diagnosis is attached to: a gradient, a forward and a loss, of an
#: MLP and of a layer network; under a convention the forward follows (fitted); and the two mutants
#: the audit would also count right by a contract row (here their diagnosis must name them).
ROWS_SHOWN_BY = ("first_weight_gradient_transposed", "first_forward_without_bias", "gelu_convention_swapped",
                 "l2_on_biases", "avgpool_backward_counts_padding", "last_updated_before_passing_down",
                 "all_updated_before_passing_down")


@pytest.mark.parametrize("name", ROWS_SHOWN_BY)
def test_every_failing_row_carries_the_line_of_a_diagnosis_that_names_the_bug(name):
    mutant, where = MUTANT[name], MUTANT[name].shows_in
    found, rows = diagnosis(Target(name, mutant.adapter(), "test"), where)
    assert mutant.expected.met_by(found.findings, where), found.line()
    failing = [r for r in rows if r.verdict == "fail" and r.check in ("forward", "gradient", "loss")]
    # under a convention its forward follows (fitted), the line says so first
    assert failing and all(r.diagnosis.endswith(found.line()) and "diagnosis" not in r.detail for r in failing)


def test_every_mutant_carries_a_case_its_bug_shows_in():
    assert all(m.shows_in is not None for m in MUTANTS)
    assert set(SHOWS_IN) == {m.name for m in MUTANTS}


def test_at_batch_one_both_missing_means_are_named_as_the_data_cannot_tell_them_apart():
    mutant = MUTANT["loss_gradient_misses_outputs"]
    found, _ = diagnosis(Target("m", mutant.adapter(), "test"), case("tanh", "mse", batch=1))
    line = found.line()
    assert "misses the mean's 1/(batch·outputs)" in line and "misses the mean's 1/outputs" in line
    assert "— or, as this case's data cannot tell them apart, " in line


@pytest.mark.parametrize("name", ["loss_plus_constant", "cross_entropy_is_sum_of_squared_gradients"])
def test_a_wrong_loss_value_is_unexplained_and_the_forward_is_not_blamed(name):
    loss = "softmax_cross_entropy" if "cross" in name else "half_sse"
    found, rows = diagnosis(Target("m", MUTANT[name].adapter(), "test"), case("sigmoid", loss))
    assert not found.explained and "×" not in found.line(), found.line()
    assert "the loss value is wrong (the output is right)" in found.line()
    assert "forward output is wrong" not in found.line()
    assert all(r.verdict == "pass" for r in rows if r.check == "forward")


def test_tanh_derivative_without_the_square_is_named():
    found, _ = diagnosis(Target("m", MUTANT["tanh_derivative_not_squared"].adapter(), "test"), case("tanh"))
    assert "the tanh derivative is written 1 − a where 1 − a² is due" in found.line()


def test_a_missing_mean_names_the_mean_and_the_layer_where_the_error_starts():
    found, _ = diagnosis(Target("m", MUTANT["loss_gradient_misses_mean"].adapter(), "test"), case("tanh", "half_mse"))
    assert found.line().startswith("the loss gradient misses the mean's 1/(batch·outputs) (it is ×8 = batch·outputs)")
    assert found.start_layer == 2
    assert set(found.affected) == {"input", "weight[0]", "weight[1]", "weight[2]", "bias[0]", "bias[1]", "bias[2]"}


def test_a_learning_rate_of_an_in_place_update_is_recovered():
    found, _ = diagnosis(Target("m", MUTANT["last_updated_before_passing_down"].adapter(), "test"), case("sigmoid"))
    assert "(W − 0.5·dW)" in found.line() and found.start_layer == 1


def test_a_bug_outside_the_library_is_said_to_be_unexplained():
    found, _ = diagnosis(Target("m", MUTANT["last_weight_gradient_from_preactivation"].adapter(), "test"), case("tanh"))
    assert not found.explained and found.findings == ()
    assert found.line().startswith("unexplained: no bug hypothesis reproduces these results")
    assert ("the error enters at layer 2 (dense+identity): layer 2's gradients are wrong; wrong: weight[2]"
            in found.line())


class NoisyFirstWeight(ReferenceNumpy):
    name = "noisy"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        noise = np.random.default_rng(1).standard_normal(grads.weights[0].shape)
        return Gradients(grads.input, (grads.weights[0] + noise,) + grads.weights[1:], grads.biases)


def test_noise_on_a_gradient_is_unexplained_and_located():
    found, _ = diagnosis(Target("noisy", NoisyFirstWeight, "test"), case("sigmoid"))
    assert found.line() == ("unexplained: no bug hypothesis reproduces these results (the error enters in the "
                            "backward of one of layers 0–1 (dense+sigmoid, dense+sigmoid): layer 0's gradients are "
                            "wrong, layer 1's right; wrong: weight[0])")


def test_a_correct_implementation_is_never_diagnosed():
    outcome = case_outcome(Target("reference_numpy", ReferenceNumpy, "test"), case("tanh", "half_mse"))
    assert outcome.diagnosis is None and all(r.verdict == "pass" for r in outcome.rows)


def test_a_mutant_that_changes_nothing_is_not_caught_by_the_unchanged_network():
    rows = run_case(Target("same", MutantAdapter, "test"), case("sigmoid", "mse", "float32"))
    assert all(r.verdict == "pass" for r in rows)


# ---- the seeds -----------------------------------------------------------------------------------

SEED_002 = "two_layer_sgd"  # the bundled ports, by name: their recorded known defects apply
SEED_004 = "cached_input"
SEED_003 = "delta_recursion"


@pytest.mark.parametrize("loss", [None, "half_sse"])
def test_seed_002_is_diagnosed_as_relu_replaced_by_its_derivative_in_the_forward(loss):
    target = load(SEED_002)
    found, rows = diagnosis(target, case("relu", loss, output="relu", depth=2, bias=False), known.load())
    assert found.line().startswith("layers 0 and 1: the forward applies the relu derivative (a 0/1 step) where "
                                   "relu belongs (backward keeps the relu derivative); output is returned as int64")
    assert [f.kind for f in found.findings] == ["forward_uses_derivative", "wrong_dtype"]
    wrong = [r for r in rows if r.verdict in ("fail", "expected_fail") and r.check in ("forward", "gradient", "loss")]
    assert wrong and all(r.diagnosis.startswith("layers 0 and 1: the forward applies the relu derivative")
                         for r in wrong)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_seed_003_is_diagnosed_as_the_derivative_taken_one_layer_up(activation):
    square = Case(NetworkSpec.mlp([5, 5, 5, 5], activation, bias=False), batch=1)  # the grid's square network
    found, rows = diagnosis(load(SEED_003), square, known.load())
    assert found.line().startswith(f"layers 0 and 1: the {activation} derivative is taken at the next layer's "
                                   f"pre-activation instead of the layer's own")
    assert [(f.kind, f.layers) for f in found.findings] == [("derivative_one_layer_off", (0, 1))]
    assert all(r.verdict == "expected_fail" for r in rows if r.check == "gradient" and r.tensor != "input"
               and r.tensor != "weight[2]")


def test_bugs_the_data_cannot_tell_apart_are_named_together():
    """At batch 1 the next ReLU layer can be on wherever this one's derivative matters, so a
    derivative taken one layer up is indistinguishable from a missing one: both are named."""
    # Whether they can be told apart depends on the data: seed 20 draws data where they cannot
    # (a case's data follows from its seed and id, and ids name the widths since the grid's redesign).
    one_up = Case(NetworkSpec.mlp([3, 4, 4, 2], "relu", "identity"), batch=1, seed=20)
    found, _ = diagnosis(Target("m", MUTANT["derivative_one_layer_off"].adapter(), "test"), one_up)
    assert [(f.kind, f.layers) for f in found.findings] == [("missing_derivative", (0,))]
    # and the same slip in the layer above too, whose part this data does not show
    assert [(f.kind, f.layers) for f in found.alternatives] == [("missing_derivative", (0, 1)),
                                                                ("derivative_one_layer_off", (0,))]
    assert found.line().startswith("layer 0: the relu derivative is missing in backward — or, as this case's "
                                   "data cannot tell them apart, layers 0 and 1: the relu derivative is missing")
    assert "layer 0: the relu derivative is taken at the next layer's pre-activation" in found.line()


def test_seed_004_is_diagnosed_as_a_missing_mean_and_biases_not_summed_over_the_batch():
    target = load(SEED_004)
    found, rows = diagnosis(target, case("sigmoid", "half_mse", depth=2), known.load())
    assert found.line().startswith(
        "the loss gradient misses the mean's 1/(batch·outputs) (it is ×8 = batch·outputs); bias[0], bias[1] not "
        "summed over the batch: shape (4, 4) where (4,) is due, and summed over the batch it is right")
    assert [(f.kind, f.layers) for f in found.findings] == [("scaled_gradient", (1,)),
                                                            ("not_reduced_over_batch", (0, 1))]
    assert any(r.verdict == "expected_fail" and r.diagnosis.startswith("the loss gradient misses")
               and r.known_defect for r in rows)


def test_seed_004_with_an_upstream_gradient_has_only_the_biases_wrong():
    found, _ = diagnosis(load(SEED_004), case("sigmoid", depth=3))
    assert found.line() == ("bias[0], bias[1], bias[2] not summed over the batch: shape (4, 4) where (4,) is due, "
                            "and summed over the batch it is right (the error enters at layer 2 (dense+identity); "
                            "wrong: "
                            "bias[0], bias[1], bias[2])")


def test_conformance_check_and_its_summary_say_each_of_the_seeds_causes_once(tmp_path):
    from conformance import api, check
    from conformance.cases.grid import default_grid
    from conformance.reporting.brief import same_cause
    from tests.helpers import captured

    # the quick grid's two-layer networks that either takes: seed 002 takes no other depth
    from conformance.implementations.cached_input import CachedInput
    from conformance.implementations.two_layer_sgd import TwoLayerSgd

    ports = [TwoLayerSgd, CachedInput]
    cases = [c for c in default_grid(quick=True) if isinstance(c.spec, NetworkSpec) and c.spec.depth == 2
             and c.batch == 4 and any(p.capabilities.why_not(c.spec, c.batch, c.dtype) is None for p in ports)]
    _, out, _ = captured(check.command, [SEED_002, SEED_004], cases=cases, out=tmp_path,
                         options=api.Options(isolate=False, timing=False))
    printed = [line.strip() for line in out.splitlines() if line.strip().startswith("diagnosis, ")]
    summary = [re.sub(r"\\(.)", r"\1", line.removeprefix("- "))  # as Markdown shows it: escapes undone
               for line in (tmp_path / "summary.md").read_text().splitlines() if line.startswith("- diagnosis, ")]
    assert printed == summary and len(printed) >= 2
    for cause in ("layers 0 and 1: the forward applies the relu derivative (a 0/1 step) where relu belongs",
                  "the loss gradient misses the mean's 1/(batch·outputs)", "not summed over the batch"):
        assert any(cause in line for line in printed), (cause, printed)
    causes = [same_cause(line.split(": ", 1)[1].split(" (worst, ")[0]) for line in printed]
    assert len(set(causes)) == len(causes), printed  # a bug alone and with another are two causes
    assert all("; diagnosis:" not in line for line in out.splitlines()), out


class ExtraLayerGradient(ReferenceNumpy):
    name = "extra"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(2 * grads.input, grads.weights + (np.ones((2, 2)),), grads.biases)


def test_a_gradient_for_a_layer_the_network_does_not_have_does_not_stop_the_diagnosis():
    found, rows = diagnosis(Target("extra", ExtraLayerGradient, "test"), case("tanh", depth=2))
    assert found.line().startswith("input ×2 (only this)")
    assert any(r.check == "contract" and r.unexpected and "3 weight gradients" in r.detail for r in rows)


class SigmoidForwardInTanhLayers(MutantAdapter):
    class network(Mutable):
        def activate(self, i, name, z):
            return activate("sigmoid" if name == "tanh" else name, z)

        def derivative(self, i, name, z, a):
            return activation_derivative("sigmoid" if name == "tanh" else name, z, a)


def test_a_forward_with_another_activation_is_named_with_both_activations():
    found, _ = diagnosis(Target("m", SigmoidForwardInTanhLayers, "test"), case("tanh", depth=2))
    assert found.line().startswith("layer 0: the forward applies sigmoid where tanh belongs (the forward output is "
                                   "wrong; the error enters at layer 0 (dense+tanh)")
    assert [(f.kind, f.layers, f.variant) for f in found.findings] == [("forward_other_activation", (0,), "sigmoid")]


class ZeroInputGradient(ReferenceNumpy):
    name = "zero_input"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(np.zeros_like(grads.input), grads.weights, grads.biases)


def test_an_all_zero_gradient_is_said_to_be_all_zeros():
    found, _ = diagnosis(Target("zero_input", ZeroInputGradient, "test"), case("relu", dtype="float32"))
    assert found.line() == ("input all zeros (the error enters at layer 0 (dense+relu): the input gradient is "
                            "wrong, layer 0's right; wrong: input)")


def test_an_error_inside_the_diagnosis_is_the_suites_own_and_is_logged(monkeypatch):
    from conformance import runner

    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    monkeypatch.setattr(runner.log, "handlers", [handler])

    def broken(*_):
        raise RuntimeError("a bug of the suite")

    monkeypatch.setattr(runner, "diagnose", broken)
    name = MUTANTS[0].name
    outcome = case_outcome(Target(name, MUTANT[name].adapter(), "test"), MUTANTS[0].shows_in)
    failing = [r for r in outcome.rows if r.verdict == "fail" and r.check in ("forward", "gradient", "loss")]
    assert failing and outcome.diagnosis is None
    assert all(r.diagnosis == "diagnosis failed: suite error, please report" for r in failing)
    assert "a bug of the suite" in logged.getvalue() and "failed" in logged.getvalue()
