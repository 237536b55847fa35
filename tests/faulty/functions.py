"""Functions with a hand-written backward, each with one bug (the correct ones are the shipped
example, ``conformance/examples/custom_ops.py``)."""

import math

import torch

from conformance.examples.custom_ops import LinearGelu, affine_relu_forward  # noqa: F401 (the tests take the forward from here)


class LinearGeluMissingTerm(LinearGelu):
    """GELU's derivative without its ``z · pdf(z)`` term."""

    @staticmethod
    def backward(ctx, grad_out):
        x, w, z = ctx.saved_tensors
        dz = grad_out * 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
        return dz @ w, dz.t() @ x, dz.sum(0)


class LinearGeluDoubleWeight(LinearGelu):
    """The weight's gradient twice what it is."""

    @staticmethod
    def backward(ctx, grad_out):
        dx, dw, db = LinearGelu.backward(ctx, grad_out)
        return dx, 2 * dw, db


class LinearGeluWrongSign(LinearGelu):
    @staticmethod
    def backward(ctx, grad_out):
        dx, dw, db = LinearGelu.backward(ctx, grad_out)
        return -dx, dw, db


class Product(torch.autograd.Function):
    """``x * y + x``, whose x-gradient misses the ``+ 1`` term (y's is right)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y + x

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved_tensors
        return grad_out * y, grad_out * x


class Accumulates(torch.autograd.Function):
    """``tanh``, whose backward adds into a buffer it never resets."""

    buffer = None

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        grad = grad_out * (1 - torch.tanh(x) ** 2)
        if Accumulates.buffer is None or Accumulates.buffer.shape != grad.shape:
            Accumulates.buffer = torch.zeros_like(grad)
        Accumulates.buffer += grad
        return Accumulates.buffer.clone()


class TransposedWeight(torch.autograd.Function):
    """``x @ w`` with a square ``w`` whose gradient comes back transposed."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x @ w

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        return grad_out @ w.t(), (x.t() @ grad_out).t()


def affine_relu_backward_bias_mean(dout, cache):
    """The bias gradient averaged over the batch."""
    x, w, a = cache
    da = dout * (a > 0)
    return da @ w.T, x.T @ da, da.mean(axis=0)


def affine_relu_backward_no_mask(dout, cache):
    """ReLU's mask forgotten: the gradient flows where the forward is flat."""
    x, w, a = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def affine_relu_backward_unsummed_bias(dout, cache):
    """The bias gradient not summed over the batch."""
    x, w, a = cache
    da = dout * (a > 0)
    return da @ w.T, x.T @ da, da




class Noisy(torch.autograd.Function):
    """``sin``, whose backward adds noise far above rounding."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * torch.cos(x) + 1e-3 * torch.randn_like(x)
