"""Reshapings that need the intended network's intermediate values: a bias gradient summed
over the wrong axis (δ summed over the units, one value per sample, where the sum over the
batch is due) and a weight gradient computed from the layer's own output instead of its
input (δᵀ·a where δᵀ·x is due); and a gradient clipped to ±c inside backward.

δ (the gradient at a dense layer's affine output), the layer's input and its output come
from one float64 autograd evaluation of the intended network, its affine outputs kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from conformance.cases.layers import SequenceSpec
from conformance.cases.spec import CaseData
from conformance.cases.torch_layers import apply_layer
from conformance.cases.torch_ops import ACTIVATION_FNS
from conformance.diagnosis.clipping import clip_of
from conformance.diagnosis.hypotheses import Factor, Reshaping
from conformance.oracles import sequence
from conformance.oracles.torch import evaluate

Agree = Callable[[np.ndarray, np.ndarray], bool]


@dataclass(frozen=True, eq=False)
class Dense:
    """One dense layer of the intended network: δ, its input and its output (the activation's,
    in an MLP), each (batch, features)."""

    delta: np.ndarray
    inputs: np.ndarray
    output: np.ndarray


@functools.lru_cache(maxsize=64)
def dense_layers(data: CaseData) -> dict[int, Dense]:
    """Every dense layer's values, by layer, for 2-D activations (batch, features)."""
    kept: dict[int, list] = {}
    if isinstance(data.case.spec, SequenceSpec):
        def keep(i):
            def override(layer, a, p):
                out = apply_layer(layer, a, p)
                out.retain_grad()
                kept[i] = [a, out, out]
                return out
            return override
        overrides = {i: keep(i) for i, layer in enumerate(data.case.spec.layers) if layer.kind == "dense"}
        sequence.evaluate(data, overrides=overrides)
    else:
        spec = data.case.spec

        def linear(i):
            def affine(a, w, b):
                z = a @ w.T if b is None else a @ w.T + b
                z.retain_grad()
                kept[i] = [a, z, None]
                return z
            return affine

        def activation(i, name):
            def act(z):
                kept[i][2] = out = ACTIVATION_FNS[name](z)
                return out
            return act
        evaluate(spec, data.params, data.x, data.upstream, data.targets,
                 layer_activations=[activation(i, layer.activation) for i, layer in enumerate(spec.layers)],
                 linears=[linear(i) for i in range(spec.depth)], conventions=data.case.conventions)
    return {i: Dense(z.grad.numpy(), a.detach().numpy(), out.detach().numpy())
            for i, (a, z, out) in kept.items() if z.grad is not None and z.dim() == 2}


def _parameter(tensor: str) -> tuple[str, int] | None:
    """("weight" or "bias", layer) of a parameter's name in either naming (``bias[1]``, ``1.bias``)."""
    if tensor.startswith(("weight[", "bias[")):
        return tensor[:tensor.index("[")], int(tensor[tensor.index("[") + 1:-1])
    head, _, tail = tensor.partition(".")
    return (tail, int(head)) if head.isdigit() and tail in ("weight", "bias") else None


def reshaping(tensor: str, seen: np.ndarray, due: np.ndarray, data: CaseData, agree: Agree) -> Reshaping | None:
    """The reshapings of this module that reproduce ``seen`` from ``due`` or the intended values."""
    if tensor in ("output", "loss"):
        return None
    # The layer's own intermediates first: they fit no constant, where a clip fits its threshold
    # (a few wrong elements can be "exactly ±c" by chance; a gradient from the wrong array cannot).
    if (structural := _from_intermediates(tensor, seen, data, agree)) is not None:
        return structural
    if (c := clip_of(seen, due, agree)) is not None:
        return Reshaping("clipped", Factor(c, f"±{c:.4g}"))
    return None


def _from_intermediates(tensor: str, seen: np.ndarray, data: CaseData, agree: Agree) -> Reshaping | None:
    """A dense layer's bias summed over the wrong axis, or its weight gradient from its own output."""
    found = _parameter(tensor)
    layer = dense_layers(data).get(found[1]) if found else None
    if layer is None:
        return None
    if found[0] == "bias":
        across = layer.delta.sum(axis=1)
        return Reshaping("bias_summed_over_wrong_axis") if seen.shape == across.shape and agree(seen, across) else None
    from_output = layer.delta.T @ layer.output
    if seen.shape == from_output.shape and agree(seen, from_output):  # (n_out, n_out) where (n_out, n_in) is due
        return Reshaping("weight_gradient_from_output")
    return None
