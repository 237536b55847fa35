"""Bugs of third-party libraries, written in their style (``audit.library_mutants``): a layer's
derivative taken from the next layer's activation is named at the layers where the two
activations differ, in every dtype; where the next is the identity the data cannot tell it
from a missing derivative and both are named."""

import pytest

from conformance.audit.mutants import MUTANTS
from conformance.audit.showcases import mlp_case
from conformance.cases.grid import MIXED_MLPS, mixed_cases
from conformance.diagnosis.findings import matches
from conformance.runner import case_outcome
from conformance.running.targets import Target

MUTANT = {m.name: m for m in MUTANTS}
DTYPES = [pytest.param(d, id=f"in {d}") for d in ("float64", "float32")]


def _diagnosed(name: str, case):
    outcome = case_outcome(Target(name, MUTANT[name].adapter(), "test"), case)
    assert outcome.diagnosis is not None, [r.message for r in outcome.rows if r.unexpected]
    return outcome.diagnosis


def _mixed(depth: int, batch: int, dtype: str):
    (case,) = [c for c in mixed_cases() if c.spec.depth == depth and c.batch == batch and c.dtype == dtype]
    return case


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_last_hidden_layer_using_the_sigmoid_outputs_derivative_is_named_there(dtype):
    case = _mixed(3, 4, dtype)
    found = _diagnosed("derivative_of_next_layer", case)
    assert matches(found.findings, "derivative_of_next_layer", (1,)), found.line()
    assert "layer 1 uses the sigmoid derivative where its own tanh derivative is due" in found.line()


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_mixed_hidden_activations_every_layer_below_another_activation_is_named(dtype):
    case = _mixed(4, 4, dtype)
    acts = [layer.activation for layer in case.spec.layers]
    differ = tuple(i for i in range(len(acts) - 1) if acts[i] != acts[i + 1])
    found = _diagnosed("derivative_of_next_layer", case)
    assert matches(found.findings, "derivative_of_next_layer", differ), found.line()
    for i in differ:
        assert f"layer {i} uses the {acts[i + 1]} derivative where its own {acts[i]} derivative is due" in found.line()


@pytest.mark.parametrize("hidden", [pytest.param(a, id=f"{a} hidden layers") for a in ("tanh", "relu", "sigmoid")])
def test_under_an_identity_output_it_is_named_beside_the_missing_derivative(hidden):
    case = mlp_case(hidden, output="identity")
    found = _diagnosed("derivative_of_next_layer", case)
    assert matches(found.names(), "derivative_of_next_layer", (1,)), found.line()
    assert matches(found.names(), "missing_derivative", (1,)), found.line()
    assert "cannot tell them apart" in found.line()


def test_the_mixed_networks_are_in_the_grid_as_declared():
    assert {tuple(layer.activation for layer in c.spec.layers) for c in mixed_cases()} == {a for _, a in MIXED_MLPS}


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_reference_passes_the_mixed_networks(dtype):
    from conformance.running.targets import load

    for case in [c for c in mixed_cases() if c.dtype == dtype]:
        rows = case_outcome(load("reference_numpy"), case).rows
        assert not [r.message for r in rows if r.unexpected], case.id


def _ce_cases(dtype: str):
    from conformance.audit.showcases import layer_case
    from conformance.cases.spec import Case, NetworkSpec

    mlp = Case(NetworkSpec.mlp((3, 4, 5), "tanh", "identity", True, "softmax_cross_entropy"), 4, dtype)
    return [mlp, layer_case("dense-softplus-dense-l2.0.1", dtype=dtype, loss="softmax_cross_entropy")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [pytest.param(o, id=f"labels {o:+d}") for o in (-1, 1, 2)])
def test_shifted_labels_are_named_with_the_shift_fitted_on_mlps_and_layer_networks(offset, dtype):
    base = MUTANT["labels_shifted_by_one"].adapter()
    adapter = type(f"Shifted{offset}", (base,), {"offset": offset})
    for case in _ce_cases(dtype):
        classes = case.spec.output_shape(1)[-1]
        outcome = case_outcome(Target("shifted", adapter, "test"), case)
        found = outcome.diagnosis
        assert found is not None and not found.forward_wrong and found.loss_wrong, case.id
        assert matches(found.findings, "labels_shifted", factor=offset % classes), found.line()
        assert all(r.verdict == "pass" for r in outcome.rows if r.check == "forward")
        if offset == -1:
            assert "class k is encoded as k − 1, class 0 as the last" in found.line(), found.line()


def test_two_classes_shifted_are_named_flipped():
    outcome = case_outcome(Target("m", MUTANT["labels_shifted_by_one"].adapter(), "test"),
                           mlp_case("tanh", "softmax_cross_entropy"))
    assert "the labels are flipped: class k is encoded as 1 − k" in outcome.diagnosis.line()


def test_right_labels_are_not_diagnosed():
    adapter = type("Unshifted", (MUTANT["labels_shifted_by_one"].adapter(),), {"offset": 0})
    for case in _ce_cases("float64"):
        rows = case_outcome(Target("right", adapter, "test"), case).rows
        assert not [r.message for r in rows if r.unexpected], case.id


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_same_slip_in_every_smooth_layer_of_two_activations_is_named_at_all_of_them(dtype):
    case = _mixed(3, 4, dtype)
    found = _diagnosed("derivative_at_output", case)
    assert matches(found.findings, "derivative_at_output", (0, 1, 2)), found.line()
    assert "the tanh and sigmoid derivative is evaluated at the activation's output" in found.line()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("depth", [pytest.param(d, id=f"the {d}-layer mixed network") for d in (3, 4)])
def test_the_next_layers_formula_in_terms_of_the_output_is_named_in_its_output_form(dtype, depth):
    case = _mixed(depth, 4, dtype)
    acts = [layer.activation for layer in case.spec.layers]
    differ = tuple(i for i in range(len(acts) - 1) if acts[i] != acts[i + 1])
    found = _diagnosed("derivative_of_next_layer_from_output", case)
    assert matches(found.findings, "derivative_of_next_layer", differ, variant="output"), found.line()
    assert "applied to the layer's own output" in found.line()


def test_under_an_identity_output_the_output_form_is_the_pre_activation_form():
    found = _diagnosed("derivative_of_next_layer_from_output", mlp_case("tanh", output="identity"))
    assert matches(found.names(), "derivative_of_next_layer", (1,)), found.line()
    assert matches(found.names(), "missing_derivative", (1,)), found.line()
