"""The file ``conformance new --function PATH`` writes: functions with a hand-written backward
and their declarations (``functions.declared``), commented, to fill in."""

from __future__ import annotations

from pathlib import Path

TEXT = '''"""Functions with a hand-written backward, checked with `conformance check THIS_FILE`.

FUNCTIONS (a plain literal: it is read without running this file) names each function to check
and describes its inputs; the check draws them (two shapes, float64 and float32), compares the
backward with finite differences of the forward (and with `reference`, when named), and says
which element of which gradient is wrong, and why.
"""

import numpy as np
import torch

FUNCTIONS = {
    # A torch.autograd.Function (or any function on tensors); inputs by name -> shape. Equal
    # sizes are tied (the 8 of x and of w): the second shape variant keeps them equal.
    "Square": {"inputs": {"x": (4, 8)}, "reference": "square_reference"},
    # A NumPy pair: the forward returns (out, cache), the backward takes (dout, cache) and returns
    # one gradient per input. Without a cache, backward(dout, *inputs).
    "affine_forward": {"inputs": {"x": (5, 4), "w": (4, 3), "b": (3,)}, "backward": "affine_backward"},
    # Inputs that are not differentiated: ("index", shape, high), ("mask", shape), ("constant", shape).
    # A layer class (made with no arguments, forward/backward methods, parameters in self.params,
    # their gradients in self.grads after backward): {"layer": True, "inputs": {...}, "params": ["W", "b"]}.
    # Optional: "dtypes": ["float32"], "shapes": 1, "seed": 0, "cache": True.
}


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return 2 * x * grad_out  # FILL IN: your backward


def square_reference(x):
    return x ** 2  # the same function in plain PyTorch ops (autograd differentiates it)


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)  # FILL IN: your backward
'''


def write(path: Path | str) -> Path:
    """Write the template to ``path``, a new ``.py`` file (never overwritten; ``ExampleError``
    with one line when it cannot be written)."""
    from conformance.examples import write_text

    return write_text(TEXT, path)
