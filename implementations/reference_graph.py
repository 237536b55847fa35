"""The project's own NumPy layers for the kinds that make a network a graph
(``cases.graph_layers``): a residual block and scaled dot-product self-attention, in the
style of ``reference_layers`` (``forward`` keeps what ``backward`` needs; ``backward``
returns the input's gradient and sets ``grads`` by short name).
"""

from __future__ import annotations

import numpy as np

from conformance.cases.graph_layers import Attention, Residual


class ResidualLayer:
    """``inner(x) + x``: backward adds the inner layers' gradient to the skip path's."""

    def __init__(self, inner):
        self.inner = inner

    def forward(self, x):
        out = x
        for layer in self.inner:
            out = layer.forward(out)
        return out + x

    def backward(self, grad):
        branch = grad
        for layer in reversed(self.inner):
            branch = layer.backward(branch)
        self.grads = {f"inner.{j}.{name}": g for j, layer in enumerate(self.inner) for name, g in layer.grads.items()}
        return branch + grad


class AttentionLayer:
    """``softmax(x xᵀ/√d) x`` over (batch, seq, d), queries, keys and values all x; causal:
    the scores above the diagonal are −∞ (their weights exactly 0)."""

    def __init__(self, causal):
        self.causal = causal

    def forward(self, x):
        self.x, self.scale = x, 1 / np.sqrt(x.shape[-1])
        scores = (x @ np.swapaxes(x, -1, -2)) * self.scale
        if self.causal:
            seq = x.shape[-2]
            scores = np.where(np.triu(np.ones((seq, seq), dtype=bool), 1), -np.inf, scores)
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        self.weights = e / e.sum(axis=-1, keepdims=True)
        return self.weights @ x

    def backward(self, grad):
        self.grads = {}
        x, w = self.x, self.weights
        d_values = np.swapaxes(w, -1, -2) @ grad
        d_weights = grad @ np.swapaxes(x, -1, -2)
        # softmax over each row (the keys' axis): dS = w ⊙ (dW − Σ_k dW·w); masked entries have w = 0
        d_scores = w * (d_weights - (d_weights * w).sum(axis=-1, keepdims=True)) * self.scale
        return d_values + d_scores @ x + np.swapaxes(d_scores, -1, -2) @ x


def make_graph_layer(layer, params, i: int, entering: tuple[int, ...], make_layer):
    """The NumPy layer for a residual block (its inner layers made by ``make_layer`` from the
    parameters ``"{i}.inner.{j}.…"``) or an attention layer."""
    if isinstance(layer, Attention):
        return AttentionLayer(layer.causal)
    if not isinstance(layer, Residual):
        raise ValueError(f"unknown layer {layer!r}")
    inner = [make_layer(sub, _Prefixed(params, f"{i}.inner"), j, shape)
             for j, (sub, shape) in enumerate(zip(layer.inner, layer.inner_shapes(entering)))]
    return ResidualLayer(inner)


class _Prefixed:
    """The parameters seen from inside a residual block: ``get("0.weight")`` is ``"{i}.inner.0.weight"``."""

    def __init__(self, params, prefix):
        self.params, self.prefix = params, prefix

    def get(self, name, default=None):
        return self.params.get(f"{self.prefix}.{name}", default)
