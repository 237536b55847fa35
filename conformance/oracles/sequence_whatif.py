"""Building blocks for "what if" layer-sequence networks: one layer whose forward or
backward differs from the intended one in exactly one way, as an override for
``oracles.sequence.evaluate`` (position → function of the layer, its input and its
parameters). Each bug is applied to the oracle's own computation: a backward written out
in an autograd function, or a forward that detaches what the buggy backward treats as a
constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from conformance.cases.layers import Conv2d, LayerKind
from conformance.cases.torch_layers import ACTIVATION_FNS, apply_layer, followed, unrolled


# ---- normalisation: statistics treated as constants ----------------------------------------------

def norm_constant_statistics(layer: LayerKind, a: torch.Tensor, p: dict) -> torch.Tensor:
    """Batch or layer norm whose backward treats the mean and variance as constants:
    ``dx = dx̂ / std`` (the weight's and bias's gradients are the intended ones)."""
    eps = followed().batchnorm_eps if layer.kind == "batchnorm" else followed().layernorm_eps
    if layer.kind == "batchnorm":
        axes = (0,) if a.dim() == 2 else (0, 2, 3)
        shape = (1, -1) if a.dim() == 2 else (1, -1, 1, 1)
    else:
        axes, shape = (-1,), (1,) * (a.dim() - 1) + (-1,)
    mean = a.mean(dim=axes, keepdim=True).detach()
    var = a.var(dim=axes, keepdim=True, unbiased=False).detach()
    xhat = (a - mean) / torch.sqrt(var + eps)
    return p["weight"].reshape(shape) * xhat + p["bias"].reshape(shape)


# ---- activations ----------------------------------------------------------------------------------

class _SoftmaxDiagonal(torch.autograd.Function):
    """Softmax going up; coming down only the Jacobian's diagonal, ``grad · s(1 − s)``."""

    @staticmethod
    def forward(ctx, z):
        s = torch.softmax(z, dim=-1)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)


def softmax_diagonal(layer: LayerKind, a: torch.Tensor, p: dict) -> torch.Tensor:
    return _SoftmaxDiagonal.apply(a)


class _PassThrough(torch.autograd.Function):
    """``fn(z)`` going up, the gradient unchanged coming down."""

    @staticmethod
    def forward(ctx, z, fn):
        with torch.no_grad():
            return fn(z)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def derivative_missing(layer: LayerKind, a: torch.Tensor, p: dict) -> torch.Tensor:
    """An activation layer whose backward passes the gradient through unchanged."""
    return _PassThrough.apply(a, ACTIVATION_FNS[layer.kind])


#: Each GELU kind and the other convention's kind, which a forward may compute in its place.
GELU_SWAPPED = {"gelu": "gelu_tanh", "gelu_tanh": "gelu"}


def gelu_swapped(layer: LayerKind, a: torch.Tensor, p: dict) -> torch.Tensor:
    """A GELU computing the other convention (the tanh approximation for the exact, or the
    converse), forward and backward."""
    return ACTIVATION_FNS[GELU_SWAPPED[layer.kind]](a)


# ---- dropout --------------------------------------------------------------------------------------

class _Scale(torch.autograd.Function):
    """``a · up`` going up, ``grad · down`` coming down."""

    @staticmethod
    def forward(ctx, a, up, down):
        ctx.down = down
        return a * up

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.down, None, None


def dropout_backward_without_scale(layer, a, p):
    """Forward ``x·mask/(1 − p)``; backward ``grad·mask``: the 1/(1 − p) left out."""
    return _Scale.apply(a, 1 / (1 - layer.p), 1.0) * p["mask"]


def dropout_backward_without_mask(layer, a, p):
    """Forward ``x·mask/(1 − p)``; backward ``grad/(1 − p)``: the mask not applied."""
    return _Scale.apply(a, p["mask"] / (1 - layer.p), 1 / (1 - layer.p))


def dropout_without_scale(layer, a, p):
    """Dropout without the inverted scale, forward and backward: ``x·mask``."""
    return a * p["mask"]


# ---- convolution ----------------------------------------------------------------------------------

class _Conv(torch.autograd.Function):
    """Cross-correlation going up; coming down the weight's and bias's intended gradients and
    the input's through ``input_grad(grad, weight, input)``."""

    @staticmethod
    def forward(ctx, a, w, b, layer, input_grad):
        ctx.save_for_backward(a, w)
        ctx.layer, ctx.input_grad, ctx.has_bias = layer, input_grad, b is not None
        return F.conv2d(a, w, b, stride=layer.stride, padding=layer.padding)

    @staticmethod
    def backward(ctx, grad):
        a, w = ctx.saved_tensors
        layer = ctx.layer
        grad_w = torch.nn.grad.conv2d_weight(a, w.shape, grad, stride=layer.stride, padding=layer.padding)
        grad_b = grad.sum(dim=(0, 2, 3)) if ctx.has_bias else None
        return ctx.input_grad(grad, w, a, layer), grad_w, grad_b, None, None


def _transposed(grad, w, a, layer: Conv2d, padding: int):
    """The input's gradient of a cross-correlation with ``padding`` (size matched to ``a``'s padded input)."""
    full = (a.shape[2] + 2 * layer.padding, a.shape[3] + 2 * layer.padding)
    out = F.conv_transpose2d(grad, w, stride=layer.stride)
    out = F.pad(out, (0, full[1] - out.shape[3], 0, full[0] - out.shape[2]))
    return out[:, :, padding:padding + a.shape[2], padding:padding + a.shape[3]]


def conv_backward_kernel_flipped(layer, a, p):
    """The input's gradient through the kernel flipped (a convolution where the transposed
    cross-correlation is due)."""
    return _Conv.apply(a, p["weight"], p.get("bias"), layer,
                       lambda g, w, x, lay: _transposed(g, w.flip(2, 3), x, lay, lay.padding))


def conv_backward_padding_ignored(layer, a, p):
    """The input's gradient cut from the padded input's at its corner, as if there were no padding."""
    return _Conv.apply(a, p["weight"], p.get("bias"), layer, lambda g, w, x, lay: _transposed(g, w, x, lay, 0))


def conv_kernel_flipped(layer, a, p):
    """A true convolution (the kernel flipped) where PyTorch's cross-correlation is due, forward and backward."""
    return F.conv2d(a, p["weight"].flip(2, 3), p.get("bias"), stride=layer.stride, padding=layer.padding)


# ---- pooling --------------------------------------------------------------------------------------

class _MaxPoolEveryElement(torch.autograd.Function):
    """Max-pool going up; coming down, each window's gradient to every one of its elements."""

    @staticmethod
    def forward(ctx, a, layer):
        ctx.layer, ctx.size = layer, a.shape[2:]
        return F.max_pool2d(a, layer.kernel, layer.step, layer.padding)

    @staticmethod
    def backward(ctx, grad):
        k, s, p = ctx.layer.kernel, ctx.layer.step, ctx.layer.padding
        n, c = grad.shape[:2]
        spread = grad.reshape(n, c, 1, -1).expand(n, c, k * k, grad.shape[2] * grad.shape[3])
        return F.fold(spread.reshape(n, c * k * k, -1), tuple(ctx.size), k, stride=s, padding=p), None


def maxpool_every_element(layer, a, p):
    return _MaxPoolEveryElement.apply(a, layer)


# ---- recurrent kinds ------------------------------------------------------------------------------

def no_gradient_through_time(layer, a, p):
    """Every step reads the previous state as a constant: no gradient goes back across steps."""
    return unrolled(layer, a, p, carry=lambda lay, h, c: (h.detach(), c.detach()))


def no_gradient_through_hidden_state(layer, a, p):
    """An LSTM whose h_{t−1} is read as a constant by the next step, while c_{t−1}'s gradient is carried."""
    return unrolled(layer, a, p, carry=lambda lay, h, c: (h.detach(), c))


def no_gradient_through_cell_state(layer, a, p):
    """An LSTM whose c_{t−1} is read as a constant by the next step, while h_{t−1}'s gradient is carried."""
    return unrolled(layer, a, p, carry=lambda lay, h, c: (h, c.detach()))


def forget_gate_missing_from_cell_gradient(layer, a, p):
    """An LSTM whose c_{t−1} gradient is c_t's, without the forget gate's factor (f's own gradient right)."""
    return unrolled(layer, a, p, cell_carry=lambda f, c: f * c.detach() + (c - c.detach()))


def update_gate_sign_flipped(layer, a, p):
    """A GRU whose update gate's gradient has the opposite sign (the forward is PyTorch's)."""
    return unrolled(layer, a, p, update_gate=lambda z: 2 * z.detach() - z)


# ---- embedding ------------------------------------------------------------------------------------

class _EmbeddingOverwrites(torch.autograd.Function):
    """The lookup going up; coming down, each row given the gradient of its token's last
    position in the batch (row-major order) instead of the sum over its positions."""

    @staticmethod
    def forward(ctx, tokens, weight):
        ctx.save_for_backward(tokens)
        ctx.rows = weight.shape[0]
        return F.embedding(tokens, weight)

    @staticmethod
    def backward(ctx, grad):
        flat, grad = ctx.saved_tensors[0].reshape(-1), grad.reshape(-1, grad.shape[-1])
        last = torch.full((ctx.rows,), -1, dtype=torch.long).scatter_reduce(0, flat, torch.arange(len(flat)), "amax")
        rows, used = grad.new_zeros(ctx.rows, grad.shape[1]), last >= 0
        rows[used] = grad[last[used]]
        return None, rows


def embedding_overwrites(layer, a, p):
    return _EmbeddingOverwrites.apply(a.long(), p["weight"])


def intended(layer, a, p):
    return apply_layer(layer, a, p)


class _MaxPoolOverwrites(torch.autograd.Function):
    """Max-pool going up; coming down, each window's gradient written (not added) to its
    maximum, windows in row-major order: where overlapping windows share a maximum, only the
    last window's gradient is left."""

    @staticmethod
    def forward(ctx, a, layer):
        out, where = F.max_pool2d(a, layer.kernel, layer.step, layer.padding, return_indices=True)
        ctx.size, ctx.where = a.shape, where.flatten(2)
        return out

    @staticmethod
    def backward(ctx, grad):
        n, c, h, w = ctx.size
        order = torch.arange(ctx.where.shape[2]).expand_as(ctx.where)
        last = torch.full((n, c, h * w), -1, dtype=order.dtype).scatter_reduce(2, ctx.where, order, "amax")
        taken = grad.flatten(2).gather(2, last.clamp(min=0))
        return torch.where(last >= 0, taken, torch.zeros_like(taken)).reshape(n, c, h, w), None


def maxpool_overwrites(layer, a, p):
    return _MaxPoolOverwrites.apply(a, layer)


def avgpool_divisor(divisor: float):
    """Average pool whose backward divides each window's gradient by ``divisor`` (k² is due)."""
    def override(layer, a, p):
        from conformance.oracles.sequence import scale_gradient
        return scale_gradient(apply_layer(layer, a, p), layer.kernel ** 2 / divisor)
    return override
