"""Bugs of third-party libraries, written in their style (``audit.library_mutants``): a layer's
derivative taken from the next layer's activation is named at the layers where the two
activations differ, in every dtype; where the next is the identity the data cannot tell it
from a missing derivative and both are named."""

import pytest

from conformance.audit.mutants import MUTANTS
from conformance.audit.showcases import mlp_case
from conformance.cases.grid import MIXED_MLPS, mixed_cases
from conformance.diagnosis.diagnose import matches
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
