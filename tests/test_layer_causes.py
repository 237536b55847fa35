"""The layer bugs named with a constant fitted from the gradients (a leaky ReLU's slope, an
average pool's divisor) are named with the constant the implementation used, whatever it is,
at the layer whose backward is wrong; the other layer causes name their layer and kind."""

import re

import pytest

from conformance.audit import layer_mutants
from conformance.audit.mutants import LAYER_MUTANTS, MUTANTS
from conformance.audit.showcases import layer_case
from conformance.diagnosis.findings import matches
from conformance.diagnosis.localise import kinds
from conformance.runner import case_outcome
from conformance.running.targets import Target

#: The layer mutants, each with the case its bug shows in.
MUTANT = {m.name: m for m in MUTANTS if m.name in {n.name for n in LAYER_MUTANTS}}


def _diagnosed(name: str, adapter, case):
    outcome = case_outcome(Target(name, adapter, "test"), case)
    assert outcome.diagnosis is not None, [r.message for r in outcome.rows if r.unexpected]
    return outcome.diagnosis


def _with(name: str, base_mutant: str, **fields):
    """The mutant ``base_mutant``'s adapter with its buggy layer class given ``fields``."""
    base = MUTANT[base_mutant].adapter()
    layer = type(f"{base.layer.__name__}_{name}", (base.layer,), fields)
    return type(f"{base.__name__}_{name}", (base,), {"layer": layer})


@pytest.mark.parametrize("slope", [pytest.param(s, id=f"a leaky slope of {s:g}") for s in (0.1, 0.001)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_wrong_leaky_slope_is_fitted_and_named_with_its_value(slope, dtype):
    case = layer_case("dense-leaky_relu-dense-softmax", dtype=dtype)
    found = _diagnosed("leaky", _with(f"{slope:g}", "leaky_slope_wrong", slope=slope), case)
    leaky = case.spec.kinds.index("leaky_relu")
    assert matches(found.findings, "leaky_slope", (leaky,), factor=slope), found.line()
    shown = float(re.search(r"uses the slope (\S+) for negative inputs where 0.01 is due", found.line()).group(1))
    assert shown == pytest.approx(slope, rel=1e-3), found.line()
    assert f"the error enters at layer {leaky} (leaky_relu)" in found.line()


@pytest.mark.parametrize("divisor", [pytest.param(d, id=f"a divisor of {d}") for d in (2, 6)])
def test_an_average_pool_divisor_is_fitted_and_named_at_the_pool(divisor):
    case = layer_case("conv2d.p1.nobias-batchnorm2d-relu-avgpool2d.k3.s2-flatten-dense", batch=2)
    found = _diagnosed("pool", _with(str(divisor), "avgpool_divides_by_kernel_times_stride",
                                     divisor=lambda self, d=divisor: d), case)
    pool = case.spec.kinds.index("avgpool2d")
    assert matches(found.findings, "avgpool_divisor", (pool,), factor=9 / divisor), found.line()
    assert f"divides each window's gradient by {divisor} where k² = 9 is due" in found.line()
    assert f"the error enters at layer {pool} (avgpool2d)" in found.line()


@pytest.mark.parametrize("name", [pytest.param(name, id=name.replace("_", " ")) for name in MUTANT])
def test_each_layer_cause_names_the_layer_and_its_kind(name):
    mutant = MUTANT[name]
    found = _diagnosed(name, mutant.adapter(), mutant.shows_in)
    spec = mutant.shows_in.spec
    layers = mutant.expected.layers(spec) if mutant.expected.layers else ()
    assert mutant.expected.met_by(found.findings, mutant.shows_in), found.line()
    if layers:
        assert f"layer {layers[0]} ({kinds(spec)[layers[0]]})" in found.line(), found.line()


def test_the_unbiased_variance_names_its_shrink_factor():
    mutant = MUTANT["batchnorm_unbiased_variance"]
    m = mutant.shows_in.batch
    found = _diagnosed(mutant.name, mutant.adapter(), mutant.shows_in)
    assert f"×√((m − 1)/m) = {((m - 1) / m) ** 0.5:.4g} of PyTorch's, m = {m}" in found.line(), found.line()


def test_a_correct_leaky_layer_is_not_diagnosed():
    outcome = case_outcome(Target("right", _with("right", "leaky_slope_wrong", slope=0.01), "test"),
                           layer_case("dense-leaky_relu-dense-softmax"))
    assert outcome.diagnosis is None and all(r.verdict == "pass" for r in outcome.rows)


def test_the_leaky_mutant_uses_the_slope_its_expectation_names():
    assert layer_mutants.LeakySlopeWrong.slope == layer_mutants.WRONG_LEAKY_SLOPE


@pytest.mark.parametrize("clip", [pytest.param(c, id=f"clipped at {c:g}") for c in (0.1, 0.4)])
def test_a_gradient_clipped_inside_backward_is_named_with_its_threshold(clip):
    from conformance.audit.layer_mutants import GradientsClippedInBackward

    (mutant,) = [m for m in MUTANTS if m.name == "gradients_clipped_in_backward"]
    network = type(f"Clipped{clip:g}", (GradientsClippedInBackward,), {"CLIP": clip})
    adapter = type(f"ClippedAdapter{clip:g}", (mutant.adapter(),), {"network": network})
    found = _diagnosed("clipped", adapter, mutant.shows_in)
    assert matches(found.findings, "clipped", factor=clip), found.line()
    assert f"clipped to ±{clip:.4g} inside backward" in found.line()


def test_a_softmax_over_the_batch_names_the_softmax_layer():
    mutant = MUTANT["softmax_over_batch"]
    found = _diagnosed(mutant.name, mutant.adapter(), mutant.shows_in)
    assert "normalised over the batch (axis 0)" in found.line() and found.forward_wrong, found.line()


@pytest.mark.parametrize("layer", [pytest.param(i, id=f"at layer {i}") for i in (1, 2)])
def test_a_bias_summed_over_the_wrong_axis_is_named_at_any_layer_whatever_its_shape(layer):
    from conformance.audit.mlp_mutants import Mutable

    class SummedOverUnits(Mutable):
        def bias_gradient(self, i, delta):
            return delta.sum(axis=1) if i == layer else super().bias_gradient(i, delta)

    (mutant,) = [m for m in MUTANTS if m.name == "first_bias_summed_over_units"]
    adapter = type(f"SummedOverUnits{layer}", (mutant.adapter(),), {"network": SummedOverUnits})
    found = _diagnosed("summed", adapter, mutant.shows_in)
    assert matches(found.findings, "bias_summed_over_wrong_axis", tensors=(f"bias[{layer}]",)), found.line()
