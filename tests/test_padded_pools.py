"""Padded pools: PyTorch's meaning (−∞ padding for a max, zeros counted in an average's k²),
the shapes and names they give, their limits, and the classic padded max-pool bug (zeros in
the max) named only where a window at the border holds only negative values."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conformance.audit.mutants import MUTANTS
from conformance.cases.layer_grid import padded_pool_networks
from conformance.cases.layers import AvgPool2d, MaxPool2d, SequenceSpec
from conformance.implementations.reference_layers import PoolLayer
from conformance.runner import case_outcome
from conformance.running.targets import Target

POOLS = [pytest.param(kind, kernel, stride, padding, id=f"{kind} k{kernel} s{stride} p{padding}")
         for kind in ("maxpool2d", "avgpool2d") for kernel, stride, padding in ((3, 2, 1), (3, 1, 1), (2, 2, 1))]


@pytest.mark.parametrize("kind, kernel, stride, padding", POOLS)
def test_the_reference_pool_is_pytorchs_forward_and_backward(kind, kernel, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6)) - 1.0  # mostly negative: a zero padding would show in a max
    layer = PoolLayer(kernel, stride, kind, padding)
    out = layer.forward(x)
    t = torch.tensor(x, requires_grad=True)
    due = (F.max_pool2d(t, kernel, stride, padding) if kind == "maxpool2d"
           else F.avg_pool2d(t, kernel, stride, padding, count_include_pad=True))
    grad = rng.standard_normal(due.shape)
    due.backward(torch.tensor(grad))
    np.testing.assert_allclose(out, due.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg="output")
    np.testing.assert_allclose(layer.backward(grad), t.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg="input gradient")


def test_padding_shows_in_the_shape_and_the_name():
    spec = SequenceSpec((2, 5, 6), (MaxPool2d(3, stride=2, padding=1),))
    assert spec.shapes[-1] == (2, 3, 3) and spec.name == "maxpool2d.k3.s2.p1"


@pytest.mark.parametrize("pool", [pytest.param(MaxPool2d(3, padding=2), id="a max-pool padded by more than half "
                                               "its kernel"),
                                  pytest.param(AvgPool2d(2, padding=-1), id="an average pool with negative padding")])
def test_padding_beyond_half_the_kernel_is_refused_in_one_line(pool):
    with pytest.raises(ValueError, match="padding must be 0..kernel/2"):
        SequenceSpec((2, 6, 6), (pool,))


def test_the_grid_has_padded_max_and_average_pools_alone_and_in_networks():
    padded = [s for s in padded_pool_networks() if any(getattr(layer, "padding", 0) for layer in s.layers
                                                         if layer.kind in ("maxpool2d", "avgpool2d"))]
    kinds = {layer.kind for s in padded for layer in s.layers if getattr(layer, "padding", 0)}
    assert kinds >= {"maxpool2d", "avgpool2d"} and any(len(s.layers) > 1 for s in padded)


def test_a_max_pool_padding_with_zeros_is_named_where_it_shows_and_passes_where_it_cannot():
    (mutant,) = [m for m in MUTANTS if m.name == "maxpool_padding_zeros"]
    found = case_outcome(Target(mutant.name, mutant.adapter(), "test"), mutant.shows_in).diagnosis
    assert found is not None and mutant.expected.met_by(found.findings, mutant.shows_in)
    assert "the padding is taken as zeros in the max" in found.line(), found.line()
    unpadded = [m.shows_in for m in MUTANTS if m.name == "maxpool_gradient_to_every_element"][0]
    outcome = case_outcome(Target(mutant.name, mutant.adapter(), "test"), unpadded)
    assert all(r.verdict == "pass" for r in outcome.rows), [r.message for r in outcome.rows if r.verdict != "pass"]
