"""What-if layers for the kinds that make a network a graph (``cases.graph_layers``): an
attention whose backward is written wrong in one of the classic ways, a residual block whose
branch's gradient never reaches the skip path, or whose skip path's gradient is dropped.
Overrides for ``oracles.sequence.evaluate`` (layer, its input, its parameters → output), as in
``sequence_whatif``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from conformance.cases.torch_layers import apply_layer, layer_params


def _weights(x: torch.Tensor, causal: bool) -> torch.Tensor:
    scores = x @ x.transpose(-1, -2) / math.sqrt(x.shape[-1])
    if causal:
        seq = x.shape[-2]
        above = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)
        scores = scores.masked_fill(above, float("-inf"))
    return torch.softmax(scores, dim=-1)


class _AttentionBackward(torch.autograd.Function):
    """Self-attention going up; coming down the intended backward but for ``bug``:
    ``wrong_axis`` (softmax's backward sums over the queries' axis, not the keys'),
    ``no_scale`` (the 1/√d left out of the scores' gradient), ``mask_leak`` (the scores'
    gradient through the unmasked softmax, so the masked positions get gradient)."""

    @staticmethod
    def forward(ctx, x, causal, bug):
        ctx.save_for_backward(x)
        ctx.causal, ctx.bug = causal, bug
        return F.scaled_dot_product_attention(x, x, x, is_causal=causal)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        w = _weights(x, ctx.causal)
        d_weights = grad @ x.transpose(-1, -2)
        soft = _weights(x, False) if ctx.bug == "mask_leak" else w
        axis = -2 if ctx.bug == "wrong_axis" else -1
        scale = 1.0 if ctx.bug == "no_scale" else 1 / math.sqrt(x.shape[-1])
        d_scores = soft * (d_weights - (d_weights * soft).sum(dim=axis, keepdim=True)) * scale
        return w.transpose(-1, -2) @ grad + d_scores @ x + d_scores.transpose(-1, -2) @ x, None, None


def attention_bug(bug: str):
    def override(layer, a, p):
        return _AttentionBackward.apply(a, layer.causal, bug)
    return override


def residual_skip_not_added(layer, a, p):
    """The block's input gets only the inner branch's gradient, the skip path's (the upstream
    gradient itself) dropped; the inner layers' parameters get theirs as intended."""
    out = a
    for j, inner in enumerate(layer.inner):
        out = apply_layer(inner, out, layer_params(p, f"inner.{j}"))
    return out + a.detach()


def residual_branch_not_added(layer, a, p):
    """The block's input gets only the skip path's gradient; the inner layers' parameters
    get theirs as intended (the branch sees its input as a constant)."""
    out = a.detach()
    for j, inner in enumerate(layer.inner):
        out = apply_layer(inner, out, layer_params(p, f"inner.{j}"))
    return out + a
