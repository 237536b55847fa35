"""What-if layers for the kinds that make a network a graph (``cases.graph_layers``): an
attention whose backward is written wrong in one of the classic ways, a residual block whose
branch's gradient never reaches the skip path (or whose skip path's gradient is dropped), a
multi-head attention whose backward joins the heads wrongly or scales the scores' gradient
wrongly. Overrides for ``oracles.sequence.evaluate`` (layer, its input, its parameters → output),
as in ``sequence_whatif``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from conformance.cases.torch_layers import apply_layer, layer_params, merge_heads, multi_head, split_heads


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


# ---- multi-head attention ----

class _SplitJoinedWrong(torch.autograd.Function):
    """The heads split going up; coming down, reshaped back without the heads' transpose."""

    @staticmethod
    def forward(ctx, t, heads):
        return split_heads(t, heads)

    @staticmethod
    def backward(ctx, grad):
        n, heads, seq, d = grad.shape
        return grad.reshape(n, seq, heads * d), None


class _JoinSplitWrong(torch.autograd.Function):
    """The heads joined going up; coming down, reshaped into heads without the transpose."""

    @staticmethod
    def forward(ctx, t):
        ctx.heads = t.shape[1]
        return merge_heads(t)

    @staticmethod
    def backward(ctx, grad):
        n, seq, e = grad.shape
        return grad.reshape(n, ctx.heads, seq, e // ctx.heads)


class _CoreScaled(torch.autograd.Function):
    """softmax(q kᵀ/√d) v per head going up; coming down, the scores' gradient times ``scale``
    (the intended one is 1/√d_head)."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale):
        ctx.save_for_backward(q, k, v)
        ctx.causal, ctx.scale = causal, scale
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    @staticmethod
    def backward(ctx, grad):
        q, k, v = ctx.saved_tensors
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if ctx.causal:
            seq = q.shape[-2]
            scores = scores.masked_fill(torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1), float("-inf"))
        w = torch.softmax(scores, dim=-1)
        d_w = grad @ v.transpose(-1, -2)
        d_scores = w * (d_w - (d_w * w).sum(dim=-1, keepdim=True)) * ctx.scale
        return d_scores @ k, d_scores.transpose(-1, -2) @ q, w.transpose(-1, -2) @ grad, None, None


def multihead_heads_joined_wrong(layer, a, p):
    return multi_head(layer, a, p, split=_SplitJoinedWrong.apply, merge=_JoinSplitWrong.apply)


def multihead_scale(which: str):
    """The scores' gradient without the 1/√d_head (``missing``) or with 1/√E (``model``)."""
    def override(layer, a, p):
        scale = 1.0 if which == "missing" else 1 / math.sqrt(layer.embed_dim)
        return multi_head(layer, a, p, core=lambda q, k, v, causal: _CoreScaled.apply(q, k, v, causal, scale))
    return override
