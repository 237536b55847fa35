"""Building blocks for "what if" networks: layers whose forward or backward differs from
the intended one in exactly one way, for the PyTorch oracle to evaluate.

``oracles.torch.evaluate`` takes per-layer activation and affine overrides; the
functions here make such overrides. Each is an autograd function whose forward
and backward are written out, so a hypothesised bug (a derivative at the wrong
point, a factor in the backward, a transposed weight) is applied to the
oracle's own computation rather than imitated on its results.
"""

from __future__ import annotations

from typing import Callable

import torch

Elementwise = Callable[[torch.Tensor], torch.Tensor]


def _sigmoid_derivative(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s)


#: Each activation as (function, derivative in terms of the pre-activation z,
#: derivative in terms of the output a — the formula written as code often has it).
ACTIVATIONS: dict[str, tuple[Elementwise, Elementwise, Elementwise]] = {
    "identity": (lambda z: z, torch.ones_like, torch.ones_like),
    "relu": (torch.relu, lambda z: (z > 0).to(z.dtype), lambda a: (a > 0).to(a.dtype)),
    "tanh": (torch.tanh, lambda z: 1 - torch.tanh(z) ** 2, lambda a: 1 - a * a),
    "sigmoid": (torch.sigmoid, _sigmoid_derivative, lambda a: a * (1 - a)),
}


def function(name: str) -> Elementwise:
    return ACTIVATIONS[name][0]


def derivative(name: str) -> Elementwise:
    """d activation / dz as a function of z."""
    return ACTIVATIONS[name][1]


def derivative_from_output(name: str) -> Elementwise:
    """d activation / dz as a function of the output a (``1 - a²`` for tanh)."""
    return ACTIVATIONS[name][2]


class _Elementwise(torch.autograd.Function):
    """``forward(z)`` going up, ``grad * backward_factor(z)`` coming down."""

    @staticmethod
    def forward(ctx, z, forward, backward_factor):
        ctx.save_for_backward(z)
        ctx.backward_factor = backward_factor
        with torch.no_grad():
            return forward(z)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        with torch.no_grad():
            return grad * ctx.backward_factor(z), None, None


def activation(forward: Elementwise, backward_factor: Elementwise) -> Elementwise:
    """A layer activation computing ``forward`` and multiplying the gradient by ``backward_factor(z)``."""
    return lambda z: _Elementwise.apply(z, forward, backward_factor)


class ScaleGradient(torch.autograd.Function):
    """Identity going up; the gradient coming down multiplied by ``factor``."""

    @staticmethod
    def forward(ctx, a, factor):
        ctx.factor = factor
        return a.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


def scaled_gradient(inner: Elementwise, factor: float) -> Elementwise:
    """``inner`` in the forward; the gradient reaching its output is multiplied by ``factor``."""
    return lambda z: ScaleGradient.apply(inner(z), factor)


class _Affine(torch.autograd.Function):
    """``a @ W.T (+ b)`` going up, or ``a @ W.T`` when the bias is left out; coming down,
    the gradient passed to ``a`` goes through ``backward_weight`` instead of W, while W
    and b get the usual ``grad.T @ a`` and ``grad.sum(0)``."""

    @staticmethod
    def forward(ctx, a, w, b, backward_weight, with_bias):
        ctx.save_for_backward(a, backward_weight)
        ctx.has_bias = b is not None
        z = a @ w.T
        return z + b if with_bias and b is not None else z

    @staticmethod
    def backward(ctx, grad):
        a, backward_weight = ctx.saved_tensors
        grad_b = grad.sum(0) if ctx.has_bias else None
        return grad @ backward_weight, grad.T @ a, grad_b, None, None


def affine(backward_weight: Callable[[torch.Tensor], torch.Tensor] = lambda w: w, with_bias: bool = True):
    """A layer's affine map for ``evaluate(linears=...)``: ``backward_weight(W)`` carries the
    gradient down (W itself when intended), ``with_bias=False`` leaves the bias out of the forward."""
    def linear(a, w, b):
        return _Affine.apply(a, w, b, backward_weight(w).detach(), with_bias)
    return linear


class _UpdatedAffine(torch.autograd.Function):
    """``a @ W.T (+ b)`` going up; coming down, W's gradient first, then the gradient passed
    to ``a`` through ``W - rate * dW``: the weights updated in place before passing down."""

    @staticmethod
    def forward(ctx, a, w, b, rate):
        ctx.save_for_backward(a, w)
        ctx.rate, ctx.has_bias = rate, b is not None
        z = a @ w.T
        return z + b if b is not None else z

    @staticmethod
    def backward(ctx, grad):
        a, w = ctx.saved_tensors
        grad_w = grad.T @ a
        return grad @ (w - ctx.rate * grad_w), grad_w, grad.sum(0) if ctx.has_bias else None, None


def updated_affine(rate: float):
    """A layer's affine map that passes the gradient down through its weights after its own SGD step."""
    return lambda a, w, b: _UpdatedAffine.apply(a, w, b, rate)
