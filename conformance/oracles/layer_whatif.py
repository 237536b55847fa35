"""More one-layer changes for ``oracles.sequence.evaluate`` (see ``sequence_whatif``): an
activation whose backward multiplies by a derivative written another way (a leaky slope of
any value, ELU's and softplus's classic slips, a derivative taken at the output), and a
batch or layer norm whose backward leaves out the mean's term or whose statistics use the
unbiased variance, and a padded average pool whose backward counts the padding otherwise than
its forward.

Each override keeps the layer's forward (the intended one unless the bug is in it) and writes
its backward out in an autograd function, so the rest of the network is the oracle's own.
"""

from __future__ import annotations

from typing import Callable

import torch

from conformance.cases.layers import LayerKind
from conformance.cases.torch_layers import ACTIVATION_FNS, followed

#: A derivative as a function of the pre-activation z and the output a.
Derivative = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class _Derivative(torch.autograd.Function):
    """``fn(z)`` going up; ``grad · derivative(z, fn(z))`` coming down."""

    @staticmethod
    def forward(ctx, z, fn, derivative):
        with torch.no_grad():
            a = fn(z)
        ctx.save_for_backward(z, a)
        ctx.derivative = derivative
        return a

    @staticmethod
    def backward(ctx, grad):
        z, a = ctx.saved_tensors
        return grad * ctx.derivative(z, a), None, None


def derivative_as(derivative: Derivative):
    """An activation layer whose backward multiplies by ``derivative(z, a)``."""
    def override(layer: LayerKind, a: torch.Tensor, p: dict) -> torch.Tensor:
        return _Derivative.apply(a, ACTIVATION_FNS[layer.kind], derivative)
    return override


def leaky_slope(slope: float):
    """Leaky ReLU whose backward uses ``slope`` for negative inputs."""
    return derivative_as(lambda z, a: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, slope)))


# ---- normalisation ---------------------------------------------------------------------------------

def _axes(layer: LayerKind, a: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The axes a norm's statistics run over, and the shape its weight and bias broadcast as."""
    if layer.kind == "batchnorm":
        return ((0,), (1, -1)) if a.dim() == 2 else ((0, 2, 3), (1, -1, 1, 1))
    return (-1,), (1,) * (a.dim() - 1) + (-1,)


class _Normalise(torch.autograd.Function):
    """x̂ = (x − mean)/√(var + eps) going up (``unbiased``: var over m − 1); coming down the
    textbook formula dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))/std, without its mean term when
    ``mean_term`` is False."""

    @staticmethod
    def forward(ctx, a, axes, eps, unbiased, mean_term):
        mean = a.mean(dim=axes, keepdim=True)
        var = a.var(dim=axes, keepdim=True, unbiased=unbiased)
        inv_std = 1 / torch.sqrt(var + eps)
        xhat = (a - mean) * inv_std
        ctx.save_for_backward(xhat, inv_std)
        ctx.axes, ctx.mean_term = axes, mean_term
        return xhat

    @staticmethod
    def backward(ctx, grad):
        xhat, inv_std = ctx.saved_tensors
        centred = grad - grad.mean(dim=ctx.axes, keepdim=True) if ctx.mean_term else grad
        return inv_std * (centred - xhat * (grad * xhat).mean(dim=ctx.axes, keepdim=True)), None, None, None, None


def _norm(unbiased: bool, mean_term: bool):
    def override(layer: LayerKind, a: torch.Tensor, p: dict) -> torch.Tensor:
        eps = followed().batchnorm_eps if layer.kind == "batchnorm" else followed().layernorm_eps
        axes, shape = _axes(layer, a)
        xhat = _Normalise.apply(a, axes, eps, unbiased, mean_term)
        return p["weight"].reshape(shape) * xhat + p["bias"].reshape(shape)
    return override


#: A norm whose backward leaves out the term through the mean (−mean(dx̂)).
norm_mean_term_missing = _norm(unbiased=False, mean_term=False)
#: A norm whose statistics use the unbiased variance, its backward the textbook formula on that x̂.
norm_unbiased_variance = _norm(unbiased=True, mean_term=True)


def norm_unbiased_variance_exact(layer: LayerKind, a: torch.Tensor, p: dict) -> torch.Tensor:
    """A norm with the unbiased variance, differentiated exactly (autograd through its forward)."""
    eps = followed().batchnorm_eps if layer.kind == "batchnorm" else followed().layernorm_eps
    axes, shape = _axes(layer, a)
    xhat = (a - a.mean(dim=axes, keepdim=True)) / torch.sqrt(a.var(dim=axes, keepdim=True, unbiased=True) + eps)
    return p["weight"].reshape(shape) * xhat + p["bias"].reshape(shape)


def avgpool_backward_other_count(layer: LayerKind, a: torch.Tensor, p: dict) -> torch.Tensor:
    """A padded average pool whose forward counts the padding as the conventions in force say
    and whose backward the other way (k² against the window's elements inside the input)."""
    import torch.nn.functional as F

    include = followed().avgpool_count_include_pad
    forward, other = (F.avg_pool2d(a, layer.kernel, layer.step, layer.padding, count_include_pad=counted)
                      for counted in (include, not include))
    return forward.detach() + other - other.detach()
