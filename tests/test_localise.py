"""Localisation: the span of layers a wrong backward can sit in, parameterless layers
included and kinds named, between the highest layer with wrong parameter gradients and
the lowest right one above it; inside a residual block, the inner layers by their parameters' names,
and a bug there named at its inner layer."""

import pytest

from conformance.audit.audit import _run, audit_grid
from conformance.audit.graph_mutants import MultiHeadScaleMissing
from conformance.audit.mutants import SEQUENCE_MUTANTS
from conformance.audit.sequence_mutants import NormConstantStatistics, SequenceMutantAdapter
from conformance.cases.graph_layers import Residual
from conformance.cases.grid import default_grid
from conformance.cases.layers import (Activation, AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, LayerNorm,
                                      SequenceSpec)
from conformance.cases.spec import NetworkSpec
from conformance.diagnosis.localise import span
from conformance.implementations.reference_graph import MultiHeadAttentionLayer
from conformance.implementations.reference_layers import NormLayer
from conformance.running.driver import Driver
from conformance.running.targets import Target
from conformance.runner import run_case

LEAKY_AFTER_DENSE = SequenceSpec((4,), (Dense(4, 5), Activation("leaky_relu"), Dense(5, 3)), "mse")
POOL_AFTER_NORM = SequenceSpec((1, 6, 6), (Conv2d(1, 2), BatchNorm(2), Activation("relu"), AvgPool2d(),
                                           Flatten(), Dense(8, 3)), "mse")


def test_a_wrong_layer_below_a_parameterless_one_does_not_pin_the_error_on_the_dense_layer():
    # A wrong leaky slope: the dense layer below has wrong gradients, the one above right ones.
    text = span(LEAKY_AFTER_DENSE, [0], input_wrong=True).text()
    assert text == ("the error enters in the backward of one of layers 0–2 (dense, leaky_relu, dense): layer 0's "
                    "gradients are wrong, layer 2's right")
    assert "enters at layer 0" not in text


def test_a_bug_named_at_one_layer_inside_the_span_pins_it_and_names_its_kind():
    assert span(LEAKY_AFTER_DENSE, [0], True).text(named=(1,)) == "the error enters at layer 1 (leaky_relu)"


def test_a_pool_above_a_batch_norm_is_inside_the_span_and_the_norm_is_not_named_alone():
    # An average pool dividing by k at layer 3: the conv and the norm below it have wrong gradients.
    found = span(POOL_AFTER_NORM, [0, 1], True)
    assert (found.low, found.high) == (1, 5)
    assert "avgpool2d" in found.text() and not found.text().startswith("the error enters at layer 1")


def test_a_wrong_top_layer_of_a_network_with_a_loss_may_be_the_loss_gradient():
    text = span(NetworkSpec.mlp([3, 4, 2], "tanh", "identity", loss="mse"), [1], False).text()
    assert text.startswith("the error enters at layer 1 (dense+identity) (or the loss's gradient)")


def test_nothing_wrong_has_no_span():
    assert span(LEAKY_AFTER_DENSE, [], input_wrong=False) is None


def test_an_average_pool_dividing_by_k_is_named_at_the_pool_not_at_the_batch_norm_below():
    from conformance.audit.mutants import MUTANTS
    from conformance.running.targets import Target
    from conformance.runner import case_outcome

    (mutant,) = [m for m in MUTANTS if m.name == "avgpool_divides_by_kernel"]
    found = case_outcome(Target(mutant.name, mutant.adapter(), "test"), mutant.shows_in).diagnosis
    line = found.line()
    assert "the error enters at layer 3 (avgpool2d)" in line and "×3" in line, line
    assert "layer 1 (batchnorm)" not in line.split(" (the error enters")[-1], line


def test_a_max_pool_that_overwrites_conforms_on_windows_that_do_not_overlap_and_fails_where_they_do():
    from conformance.audit.mutants import MUTANTS
    from conformance.audit.showcases import layer_case
    from conformance.running.targets import Target
    from conformance.runner import case_outcome

    (mutant,) = [m for m in MUTANTS if m.name == "maxpool_overwrites"]
    target = Target(mutant.name, mutant.adapter(), "test")
    apart = case_outcome(target, layer_case("maxpool2d"))
    assert not [r.detail for r in apart.rows if r.unexpected]
    overlapping = case_outcome(target, layer_case("maxpool2d.s1"))
    assert "writes each window's gradient to its maximum where it must add" in overlapping.diagnosis.line()


# ---- inside residual blocks ----

BLOCKS = SequenceSpec((4,), (Dense(4, 5), Residual((LayerNorm(5), Dense(5, 6), Activation("gelu"), Dense(6, 5))),
                             Dense(5, 3)), "mse")


def test_a_wrong_inner_layer_below_a_right_one_pins_the_error_inside_the_block_by_parameter_names():
    wrong = ["1.inner.1.weight", "1.inner.1.bias", "1.inner.0.weight", "1.inner.0.bias", "0.weight", "input"]
    found = span(BLOCKS, [0, 1], True, wrong)
    assert (found.low, found.high) == (1, 1)
    assert found.text() == ("the error enters at layer 1 (residual) → one of inner layers 1–3 (dense, gelu, dense): "
                            "layer 1's gradients are wrong, 1.inner.1.weight's are wrong, layer 2's right, "
                            "1.inner.3.weight's right")


def test_without_the_wrong_tensors_names_a_wrong_block_is_not_narrowed_inside():
    found = span(BLOCKS, [1], True)
    assert (found.low, found.high) == (1, 2) and "inner" not in found.text()


def test_a_block_whose_gradients_are_right_bounds_the_span_at_its_lowest_inner_layer_with_parameters():
    found = span(BLOCKS, [0], True, ["0.weight", "0.bias", "input"])
    assert found.text().startswith("the error enters in the backward of one of layers 0–1 (dense, residual); "
                                   "in layer 1 (residual) → inner layer 0 (layernorm) or the sum with its skip "
                                   "path")


class _InnerBug(SequenceMutantAdapter):
    """The reference with the first inner layer of class ``base`` in every residual block given ``bug``."""

    base: type = object
    bug: type = object

    def build(self, spec, params):
        super().build(spec, params)
        for layer in self.net.layers:
            for inner in getattr(layer, "inner", ()):
                if type(inner) is self.base:
                    inner.__class__ = self.bug
                    break


@pytest.mark.parametrize("name, base, bug, words, where", [
    pytest.param("dense-residual_layernorm_dense_tanh-dense", NormLayer, NormConstantStatistics,
                 "treats the mean and variance as constants", "layer 1 (residual) → inner layer 0 (layernorm)",
                 id="a layer norm inside a block with constant statistics is named inside the block"),
    pytest.param("residual_layernorm_mha.h2.causal-residual_layernorm_dense_gelu_dense", MultiHeadAttentionLayer,
                 MultiHeadScaleMissing, "the 1/√d_head scale is left out",
                 "layer 0 (residual) → inner layer 1 (multihead_attention)",
                 id="multi-head attention without its backward scale in a transformer block is named inside it")])
def test_a_bug_inside_a_residual_block_is_named_at_its_inner_layer(name, base, bug, words, where):
    case = next(c for c in default_grid(quick=True) if c.spec.name == name and c.dtype == "float64")
    adapter = type("InnerBug", (_InnerBug,), {"base": base, "bug": bug})
    rows = [r for r in run_case(Driver(Target("inner-bug", adapter, "test")), case) if r.verdict == "fail"]
    assert rows, f"{case.id}: the bug inside the block went unnoticed"
    (diagnosis,) = {r.diagnosis for r in rows}
    assert diagnosis.startswith(f"{where}: ") and words in diagnosis, diagnosis
    assert f"the error enters at {where}" in diagnosis, diagnosis


@pytest.mark.parametrize("name", [
    pytest.param("residual_layernorm_attention.causal-residual_layernorm_dense_gelu_dense",
                 id="a branch not added in both blocks of a transformer is named at both"),
    pytest.param("residual_layernorm_mha.h2.causal-residual_layernorm_dense_gelu_dense",
                 id="a branch not added in both blocks of a multi-head transformer is named at both")])
def test_a_bug_in_every_block_of_its_kind_is_named_at_every_one(name):
    (mutant,) = [m for m in SEQUENCE_MUTANTS if m.name == "residual_branch_not_added"]
    case = next(c for c in audit_grid(quick=True) if c.spec.name == name and c.dtype == "float64")
    rows, diagnosis = _run(Driver(Target(f"mutant:{mutant.name}", mutant.adapter(), "test")), case)
    assert any(r.unexpected for r in rows), f"{case.id}: the mutant went unnoticed"
    assert mutant.expected.met(diagnosis.names(), rows, case), diagnosis.line()
    assert diagnosis.line().startswith("layers 0, 1 (residual), each: "), diagnosis.line()
