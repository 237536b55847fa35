"""Declared capabilities are exercised and asked for by name: ``--require`` names every capability, layer kind
and loss; every loss meets the L2 penalty; every loss is listed; supports() sees only specs the declaration
allows; ``NamedParams`` reads as a mapping."""

import numpy as np
import pytest

from conformance.cases.grid import default_grid
from conformance.cases.layers import LAYER_KINDS, SEQUENCE_LOSSES, NamedParams
from conformance.judge.coverage import Requirement, RequirementError, check_grid


@pytest.fixture(scope="module")
def cases():
    return default_grid(0, quick=True)


@pytest.mark.parametrize("term", [pytest.param(t, id=f"--require {t} is a known term")
                                  for t in ("l2", "nol2", *LAYER_KINDS, *SEQUENCE_LOSSES)])
def test_every_capability_layer_kind_and_loss_is_a_requirement_term(term):
    assert Requirement.parse(term).text == term


def test_an_unknown_term_lists_the_layer_kinds_losses_and_penalty():
    with pytest.raises(RequirementError) as error:
        Requirement.parse("layernrom")
    for name in ("l2", "layernorm", "conv2d", "hinge", "binary_cross_entropy"):
        assert name in str(error.value)


def test_l2_layernorm_hinge_names_cases_of_each_and_the_grid_has_them(cases):
    requirement = Requirement.parse("l2,layernorm,hinge")
    check_grid(requirement, cases)
    matched = [c for c in cases if requirement.matches(c)]
    assert matched and all(c.spec.l2 > 0 and "layernorm" in c.spec.kinds and c.spec.loss == "hinge"
                           for c in matched)


def test_a_layer_kind_term_excludes_networks_without_that_layer(cases):
    requirement = Requirement.parse("conv2d")
    assert any(requirement.matches(c) for c in cases)
    assert not any(requirement.matches(c) for c in cases if "conv2d" not in getattr(c.spec, "kinds", ()))


def test_named_params_is_a_mapping_over_tensors_then_buffers():
    params = NamedParams({"0.weight": np.ones((2, 2)), "0.bias": np.zeros(2)}, {"1.mask": np.ones((3, 2))})
    assert "0.bias" in params and "1.mask" in params and "2.weight" not in params and 0 not in params
    assert list(params) == list(params.keys()) == ["0.weight", "0.bias", "1.mask"]
    assert len(params) == 3 and dict(params.items())["1.mask"].shape == (3, 2)
    assert [v.shape for v in params.values()] == [(2, 2), (2,), (3, 2)]


def test_every_loss_meets_the_l2_penalty_with_one_and_several_outputs(cases):
    from conformance.cases.layer_grid import _NEED_SEVERAL_OUTPUTS
    penalised = [c.spec for c in cases if getattr(c.spec, "l2", 0)]
    for loss in SEQUENCE_LOSSES:
        widths = {s.shapes[-1][-1] for s in penalised if s.loss == loss}
        assert any(w > 1 for w in widths), loss
        assert loss in _NEED_SEVERAL_OUTPUTS or 1 in widths, loss


def test_a_dense_relu_classifier_declaring_l2_meets_penalised_softmax_cross_entropy(cases):
    from conformance.contract.adapter import Capabilities
    caps = Capabilities(mlp=False, vjp=False, layers=frozenset({"dense", "relu"}),
                        losses=frozenset({"softmax_cross_entropy"}), penalties=frozenset({"l2"}))
    ran = [c for c in cases if caps.why_not(c.spec, c.batch, c.dtype) is None]
    assert any(c.spec.l2 and c.spec.loss == "softmax_cross_entropy" for c in ran)


@pytest.mark.parametrize("where", [pytest.param("template", id="the adapter template lists every loss"),
                                   pytest.param("fields", id="the capability field docs list every loss"),
                                   pytest.param("help", id="--loss help lists every loss")])
def test_every_loss_is_listed_where_a_user_looks(where):
    from pathlib import Path
    if where == "template":
        from conformance.contract.template import render
        text = render(Path("my_net_adapter.py"))
    elif where == "fields":
        from conformance.contract.adapter import FIELD_DOCS
        text = FIELD_DOCS["losses"]
    else:
        import argparse
        from conformance.cli.options import add_grid_options
        parser = argparse.ArgumentParser()
        add_grid_options(parser)
        text = parser.format_help()
    assert all(loss in text for loss in SEQUENCE_LOSSES)


class _ReadsKinds(__import__("conformance").Adapter):
    """A first-draft layer adapter: its supports() reads layer-network fields before anything else."""

    capabilities = __import__("conformance").Capabilities(mlp=False, layers=frozenset({"dense", "relu"}))

    def supports(self, spec, batch, dtype):
        return "no relu after dense" if spec.kinds[:2] == ("dense", "relu") and spec.layers[-1].kind == "x" \
            else super().supports(spec, batch, dtype)

    def build(self, spec, params):
        raise NotImplementedError

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError


def test_supports_is_asked_only_about_specs_the_declared_capabilities_allow(cases):
    from conformance.running.driver import Driver
    from conformance.running.targets import Target
    driver = Driver(Target("reads_kinds", _ReadsKinds, "test"))
    reasons = [driver.supports(c) for c in cases[::7]]
    assert "no MLP networks (layer-sequence networks only)" in reasons
    assert all(r is None or r.startswith("no ") for r in reasons), {r for r in reasons}
