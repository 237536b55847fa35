"""Layer-sequence networks: the reference passes every case of every layer kind in both dtypes,
the course-style example passes and its classic batch-norm bug is caught and named, an MLP
adapter is never offered these cases, and the contract speaks of parameters by name."""

import numpy as np
import pytest

from conformance.cases.layer_data import generate_case
from conformance.cases.layers import LAYER_KINDS, Activation, BatchNorm, Dense, SequenceSpec
from conformance.cases.spec import Case
from conformance.cases.grid import default_grid
from conformance.contract.adapter import Capabilities, Gradients
from conformance.diagnosis.findings import matches
from conformance.examples import course_layers
from conformance.running.driver import Driver
from conformance.running.targets import Target, load
from conformance.runner import case_outcome, run_case

SEQUENCE_CASES = [c for c in default_grid() if isinstance(c.spec, SequenceSpec)]


def test_the_grid_has_cases_for_every_layer_kind_named_by_their_layers():
    kinds = {kind for c in SEQUENCE_CASES for kind in c.spec.kinds}
    assert kinds == set(LAYER_KINDS)
    ids = [c.id for c in SEQUENCE_CASES]
    assert len(ids) == len(set(ids))
    assert "conv2d.p1-relu-maxpool2d-flatten-dense-b2-float64-vjp" in ids
    assert {c.dtype for c in SEQUENCE_CASES} == {"float64", "float32"}
    assert any(len(c.spec.layers) == 1 and c.spec.kinds == ("batchnorm",) for c in SEQUENCE_CASES)


def test_the_same_case_gives_the_same_bytes():
    case = next(c for c in SEQUENCE_CASES if "dropout" in c.spec.kinds)
    first, second = generate_case(case), generate_case(case)
    for name, tensor in first.tensors().items():
        assert tensor.tobytes() == second.tensors()[name].tobytes(), name
    assert all(first.params.buffers[n].tobytes() == b.tobytes() for n, b in second.params.buffers.items())


def test_parameters_are_named_and_shaped_as_torch_sequential_names_them():
    spec = next(c.spec for c in SEQUENCE_CASES if c.spec.name == "conv2d.p1-relu-maxpool2d-flatten-dense")
    assert spec.param_shapes == {"0.weight": (4, 3, 3, 3), "0.bias": (4,), "4.weight": (5, 36), "4.bias": (5,)}


@pytest.mark.slow  # on the smoke and quick grids, the per-case suite (test_conformance) is this test
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_reference_passes_every_layer_case_with_no_false_alarm(dtype):
    driver = Driver(load("reference_numpy"))
    bad = [f"{c.id}: {r.check} {r.tensor}: {r.message}" for c in SEQUENCE_CASES if c.dtype == dtype
           for r in run_case(driver, c) if r.verdict != "pass"]
    assert bad == []


def test_an_mlp_adapter_is_never_offered_a_layer_case():
    reason = Capabilities(losses={"mse"}).why_not(SEQUENCE_CASES[0].spec, 2, "float64")
    assert reason == "no layer-sequence networks (declares no layer kinds)"
    rows = run_case(Driver(load("class_layers")), SEQUENCE_CASES[0])
    assert [r.verdict for r in rows] == ["not_applicable"]


def test_a_kind_an_adapter_does_not_declare_is_not_applicable_with_that_reason():
    capabilities = Capabilities(layers={"dense", "relu"})
    spec = SequenceSpec((4,), (Dense(4, 6, bias=False), BatchNorm(6), Activation("relu"), Dense(6, 3)))
    assert capabilities.why_not(spec, 3, "float64") == "no batchnorm layer"


def test_the_course_style_example_passes_every_case_it_supports():
    # The whole grid's course cases take about a second, and only they reach every kind it has.
    driver = Driver(Target("course_layers", course_layers.CourseLayersAdapter, "test"))
    cases = [c for c in SEQUENCE_CASES if (c.batch == 2 or "batchnorm" in c.spec.kinds)
             and course_layers.CourseLayersAdapter().supports(c.spec, c.batch, c.dtype) is None]
    rows = [r for c in cases for r in run_case(driver, c)]
    assert sum(r.verdict == "pass" for r in rows) > 2 * len(cases)
    assert [r.message for r in rows if r.verdict not in ("pass", "not_applicable")] == []


def constant_statistics_backward(dout, cache):
    """The classic bug: dx = dx̂/σ, as if the batch mean and variance did not depend on x."""
    xhat, gamma, std = cache
    return dout * gamma / std, (dout * xhat).sum(axis=0), dout.sum(axis=0)


class BuggyBatchnorm(course_layers.CourseLayersAdapter):
    batchnorm_backward = staticmethod(constant_statistics_backward)


def test_the_example_with_the_classic_batchnorm_bug_fails_and_the_diagnosis_names_it():
    case = next(c for c in SEQUENCE_CASES if c.spec.name == "dense.nobias-batchnorm-relu-dense" and c.spec.loss is None)
    outcome = case_outcome(Driver(Target("buggy", BuggyBatchnorm, "test")), case)
    failing = [r for r in outcome.rows if r.verdict == "fail"]
    assert {r.tensor for r in failing if r.check == "gradient"} == {"input", "0.weight"}
    assert matches(outcome.diagnosis.findings, "norm_constant_statistics", (1,)), outcome.diagnosis.line()
    assert "treats the batch mean and variance as constants" in failing[0].diagnosis


def test_gradients_by_name_are_what_a_layer_network_returns():
    case = SEQUENCE_CASES[0]

    class ByLayer(course_layers.CourseLayersAdapter):
        def backward(self, grad_output):
            grads = super().backward(grad_output)
            return Gradients(grads.input, tuple(grads.named.values()))

    rows = run_case(Driver(Target("by_layer", ByLayer, "test")), case)
    contract = [r for r in rows if r.check == "contract" and r.verdict == "fail"]
    assert contract and "by parameter name" in contract[0].message


def test_a_dropout_mask_is_handed_over_and_kept_units_scale_by_the_inverse_keep_probability():
    case = next(c for c in SEQUENCE_CASES if c.spec.kinds == ("dropout",))
    data = generate_case(case)
    mask = data.params["0.mask"]
    assert set(np.unique(mask)) <= {0.0, 1.0} and mask.any()
    from conformance.oracles.torch import reference

    assert np.allclose(reference(data).output, data.x * mask / (1 - case.spec.layers[0].p))


def test_an_mlp_case_and_its_id_are_unchanged():
    from conformance.cases.grid import mixed_cases

    mixed = set(mixed_cases())
    mlp = [c for c in default_grid() if not isinstance(c.spec, SequenceSpec) and not c.large and c not in mixed]
    assert len(mlp) == 2968 and mlp[0].id == Case(mlp[0].spec, mlp[0].batch, mlp[0].dtype).id


def test_a_subclass_of_the_reference_that_rewrites_its_backward_meets_the_mlp_cases_only():
    from conformance.implementations.reference_numpy import ReferenceNumpy

    class MyBackward(ReferenceNumpy):
        def backward(self, grad_output):
            return super().backward(grad_output)

    class Renamed(ReferenceNumpy):
        name = "renamed"

    assert MyBackward.capabilities.layers == frozenset() and MyBackward.capabilities.mlp
    assert Renamed.capabilities.layers == ReferenceNumpy.capabilities.layers != frozenset()
