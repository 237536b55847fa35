"""Networks that are a small graph: residual blocks and self-attention. The reference's NumPy
layers against PyTorch's meaning on every such network of the grid, the nested parameter
names, the shapes a residual block must keep, the kinds an adapter must declare, and the
quick grid's cases of each new kind in both dtypes."""

import numpy as np
import pytest
import torch

from conformance.cases.graph_layers import GRAPH_KINDS, Attention, Residual, kinds_within, layer_named
from conformance.cases.grid import default_grid
from conformance.cases.layer_grid import graph_networks
from conformance.cases.layers import LAYER_KINDS, Activation, Dense, LayerNorm, NamedParams, SequenceSpec
from conformance.cases.torch_layers import forward
from conformance.contract.adapter import Capabilities
from implementations.reference_graph import AttentionLayer
from implementations.reference_layers import Sequential

TRANSFORMER = SequenceSpec((3, 4), (Residual((LayerNorm(4), Attention(causal=True))),
                                    Residual((LayerNorm(4), Dense(4, 6), Activation("gelu"), Dense(6, 4)))))


def _close(name, got, want, tol=1e-10):
    worst = np.unravel_index(np.argmax(np.abs(got - want)), got.shape)
    assert np.allclose(got, want, rtol=tol, atol=tol), \
        f"{name}{list(worst)}: reference {got[worst]:.10g}, PyTorch {want[worst]:.10g} (tolerance {tol:g})"


@pytest.mark.parametrize("spec", [pytest.param(s, id=f"the reference computes {s.name} as PyTorch does")
                                  for s in graph_networks()])
def test_reference_matches_pytorch_on_every_graph_network(spec):
    rng = np.random.default_rng(1)
    params = {k: rng.standard_normal(shape) * 0.7 for k, shape in spec.param_shapes.items()}
    x, upstream = rng.standard_normal((2,) + spec.input_shape), rng.standard_normal(spec.output_shape(2))
    net = Sequential(spec, NamedParams(params, {}))
    y = net.forward(x)
    dx, named = net.backward(upstream)
    tx = torch.tensor(x, requires_grad=True)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ty = forward(spec, tx, tp)
    (ty * torch.tensor(upstream)).sum().backward()
    assert set(named) == set(params)
    _close("output", y, ty.detach().numpy())
    _close("input", dx, tx.grad.numpy())
    for name in params:
        _close(name, named[name], tp[name].grad.numpy())


def test_inner_parameters_are_named_as_a_module_holding_them_in_inner_would_name_them():
    assert list(TRANSFORMER.param_shapes) == ["0.inner.0.weight", "0.inner.0.bias", "1.inner.0.weight",
                                              "1.inner.0.bias", "1.inner.1.weight", "1.inner.1.bias",
                                              "1.inner.3.weight", "1.inner.3.bias"]
    assert TRANSFORMER.param_shapes["1.inner.1.weight"] == (6, 4)
    assert layer_named(TRANSFORMER, "1.inner.3.bias") == Dense(6, 4)


def test_a_residual_block_that_changes_the_shape_is_refused():
    with pytest.raises(ValueError, match="residual block's inner layers map"):
        SequenceSpec((4,), (Residual((Dense(4, 3),)),))


def test_causal_attention_gives_no_weight_to_later_positions():
    layer = AttentionLayer(causal=True)
    layer.forward(np.random.default_rng(0).standard_normal((2, 4, 3)))
    assert np.all(np.triu(layer.weights[0], 1) == 0) and np.allclose(layer.weights.sum(axis=-1), 1)


def test_an_adapter_is_offered_a_residual_network_only_with_every_inner_kind_declared():
    without_norm = Capabilities(layers=frozenset(LAYER_KINDS) - {"layernorm"}, mlp=False)
    assert kinds_within(TRANSFORMER) == ("residual", "layernorm", "attention", "dense", "gelu")
    assert "layernorm" in without_norm.why_not_sequence(TRANSFORMER, 2, "float64")
    assert Capabilities(layers=frozenset(LAYER_KINDS), mlp=False).why_not_sequence(TRANSFORMER, 2, "float64") is None


def test_the_quick_grid_has_cases_of_every_graph_kind_in_both_dtypes():
    cases = [c for c in default_grid(quick=True) if isinstance(c.spec, SequenceSpec)]
    for kind in GRAPH_KINDS:
        dtypes = {c.dtype for c in cases if kind in kinds_within(c.spec)}
        assert dtypes == {"float32", "float64"}, f"{kind}: {dtypes}"
    assert any(c.spec.loss for c in cases if "residual" in c.spec.kinds)
    assert any(getattr(layer, "causal", False) for c in cases for layer in c.spec.layers)
