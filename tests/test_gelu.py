"""GELU's two conventions: the reference's NumPy layer against PyTorch's meaning, and the two told apart."""

import numpy as np
import pytest
import torch

from conformance.cases.layers import Activation
from conformance.cases.torch_layers import apply_layer
from implementations.reference_layers import ActivationLayer


def _torch_value_and_grad(name: str, z: np.ndarray, upstream: np.ndarray):
    t = torch.tensor(z, requires_grad=True)
    y = apply_layer(Activation(name), t, {})
    (y * torch.tensor(upstream)).sum().backward()
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("name", [pytest.param("gelu", id="exact GELU"),
                                  pytest.param("gelu_tanh", id="GELU's tanh approximation")])
def test_reference_gelu_matches_pytorch(name):
    rng = np.random.default_rng(0)
    z, upstream = rng.normal(scale=2.0, size=(3, 7)), rng.normal(size=(3, 7))
    layer = ActivationLayer(name)
    y = layer.forward(z)
    dz = layer.backward(upstream)
    want_y, want_dz = _torch_value_and_grad(name, z, upstream)
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dz, want_dz, rtol=1e-10, atol=1e-12)


def test_the_two_conventions_differ_beyond_rounding():
    z = np.linspace(-3, 3, 61)
    exact, approx = ActivationLayer("gelu").forward(z), ActivationLayer("gelu_tanh").forward(z)
    assert np.abs(exact - approx).max() > 1e-5
