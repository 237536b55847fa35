"""Example: functions with a hand-written backward, checked with ``conformance.check_function``.

``LinearGelu`` is a fused linear + GELU ``torch.autograd.Function``; ``affine_relu_forward`` /
``affine_relu_backward`` a NumPy layer pair in CS231n's style (the forward returns a cache).
``conformance check custom_ops.py`` checks both as ``FUNCTIONS`` declares them (read from the
file's text, run in a sandboxed worker); ``python custom_ops.py`` does the same in this process.
"""

import math

import numpy as np
import torch

FUNCTIONS = {
    "LinearGelu": {"inputs": {"x": (4, 8), "w": (3, 8), "b": (3,)}, "reference": "linear_gelu_reference"},
    "affine_relu_forward": {"inputs": {"x": (5, 4), "w": (4, 3), "b": (3,)}, "backward": "affine_relu_backward"},
}


class LinearGelu(torch.autograd.Function):
    """``gelu(x @ w.T + b)`` with GELU's exact (erf) form."""

    @staticmethod
    def forward(ctx, x, w, b):
        z = x @ w.t() + b
        ctx.save_for_backward(x, w, z)
        return 0.5 * z * (1.0 + torch.erf(z / math.sqrt(2.0)))

    @staticmethod
    def backward(ctx, grad_out):
        x, w, z = ctx.saved_tensors
        cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        dz = grad_out * (cdf + z * pdf)
        return dz @ w, dz.t() @ x, dz.sum(0)


def linear_gelu_reference(x, w, b):
    """The same function in plain PyTorch ops, for autograd to differentiate."""
    return torch.nn.functional.gelu(torch.nn.functional.linear(x, w, b))


def affine_relu_forward(x, w, b):
    a = x @ w + b
    return np.maximum(a, 0.0), (x, w, a)


def affine_relu_backward(dout, cache):
    x, w, a = cache
    da = dout * (a > 0)
    return da @ w.T, x.T @ da, da.sum(axis=0)


if __name__ == "__main__":
    from conformance import check_function

    print(check_function(LinearGelu, inputs={"x": (4, 8), "w": (3, 8), "b": (3,)}, reference=linear_gelu_reference))
    print(check_function(affine_relu_forward, inputs={"x": (5, 4), "w": (4, 3), "b": (3,)},
                         backward=affine_relu_backward))
