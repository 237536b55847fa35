"""The project's own NumPy layers for the kinds that make a network a graph
(``cases.graph_layers``): a residual block, scaled dot-product self-attention and multi-head
self-attention (PyTorch's ``in_proj`` layout), in the
style of ``reference_layers`` (``forward`` keeps what ``backward`` needs; ``backward``
returns the input's gradient and sets ``grads`` by short name).
"""

from __future__ import annotations

import numpy as np

from conformance.cases.graph_layers import Attention, MultiHeadAttention, Residual


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


def _softmax_rows(scores, causal):
    """Each row's softmax over the keys; causal: the scores above the diagonal −∞ (weights exactly 0)."""
    if causal:
        seq = scores.shape[-1]
        scores = np.where(np.triu(np.ones((seq, seq), dtype=bool), 1), -np.inf, scores)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class MultiHeadAttentionLayer:
    """``torch.nn.MultiheadAttention`` self-attention over (batch, seq, E): the packed in_proj
    (rows q, k, v), heads of E/heads consecutive features, softmax(q kᵀ/√d_head) v per head,
    the heads joined and out_proj. Backward takes the same steps in reverse; ``back_scale``,
    ``to_heads_back`` and ``from_heads_back`` are its scale and the adjoints of joining and
    splitting the heads (a subclass may write them wrong)."""

    def __init__(self, heads, causal, w_in, b_in, w_out, b_out):
        self.heads, self.causal = heads, causal
        self.w_in, self.b_in, self.w_out, self.b_out = w_in, b_in, w_out, b_out

    def split(self, t):
        n, seq, e = t.shape
        return t.reshape(n, seq, self.heads, e // self.heads).transpose(0, 2, 1, 3)

    def join(self, t):
        n, heads, seq, d = t.shape
        return t.transpose(0, 2, 1, 3).reshape(n, seq, heads * d)

    def forward(self, x):
        self.x = x
        qkv = x @ self.w_in.T + self.b_in
        self.q, self.k, self.v = (self.split(t) for t in np.split(qkv, 3, axis=-1))
        self.scale = 1 / np.sqrt(self.q.shape[-1])
        self.weights = _softmax_rows((self.q @ np.swapaxes(self.k, -1, -2)) * self.scale, self.causal)
        self.joined = self.join(self.weights @ self.v)
        return self.joined @ self.w_out.T + self.b_out

    # the backward's own steps: the adjoint of join is split, of split join; the scores' scale
    def to_heads_back(self, grad):
        return self.split(grad)

    def from_heads_back(self, grad):
        return self.join(grad)

    def back_scale(self):
        return self.scale

    def backward(self, grad):
        e = self.x.shape[-1]
        flat = grad.reshape(-1, e)
        d_heads = self.to_heads_back(grad @ self.w_out)
        w, q, k, v = self.weights, self.q, self.k, self.v
        d_v = np.swapaxes(w, -1, -2) @ d_heads
        d_w = d_heads @ np.swapaxes(v, -1, -2)
        d_scores = w * (d_w - (d_w * w).sum(axis=-1, keepdims=True)) * self.back_scale()
        d_q, d_k = d_scores @ k, np.swapaxes(d_scores, -1, -2) @ q
        d_qkv = np.concatenate([self.from_heads_back(t) for t in (d_q, d_k, d_v)], axis=-1)
        self.grads = {"in_proj_weight": d_qkv.reshape(-1, 3 * e).T @ self.x.reshape(-1, e),
                      "in_proj_bias": d_qkv.reshape(-1, 3 * e).sum(axis=0),
                      "out_proj.weight": flat.T @ self.joined.reshape(-1, e), "out_proj.bias": flat.sum(axis=0)}
        return d_qkv @ self.w_in


def make_graph_layer(layer, params, i: int, entering: tuple[int, ...], make_layer):
    """The NumPy layer for a residual block (its inner layers made by ``make_layer`` from the
    parameters ``"{i}.inner.{j}.…"``), an attention or a multi-head attention layer."""
    if isinstance(layer, Attention):
        return AttentionLayer(layer.causal)
    if isinstance(layer, MultiHeadAttention):
        return MultiHeadAttentionLayer(layer.num_heads, layer.causal, *(
            params.get(f"{i}.{name}") for name in ("in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                    "out_proj.bias")))
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
