"""What each layer kind and each loss means, in PyTorch (``torch.nn.functional``): the one
definition the oracle differentiates, the diagnosis changes one layer of, and data
generation and the kink guard read kink distances from. Importing it imports PyTorch.

``forward`` applies a ``SequenceSpec`` to a batch; a layer may be replaced (``overrides``:
position → function of the layer, its input and its parameters), which is how a what-if
network is made. ``Kinks`` collects, on the way, the quantities whose sign decides a
derivative: the input of every ReLU and leaky ReLU, the margins of the hinge loss, and
for every max-pool window the lead of its maximum over the other elements.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from conformance.cases import torch_ops
from conformance.cases.conventions import PYTORCH, Conventions
from conformance.cases.embedding import Embedding
from conformance.cases.graph_layers import Attention, MultiHeadAttention, Residual
from conformance.cases.layers import (ELU_ALPHA, GELU_APPROXIMATION, LEAKY_SLOPE, Activation,
                                      AvgPool2d, BatchNorm, Conv2d, Dense, Dropout, Flatten, LayerKind, LayerNorm,
                                      MaxPool2d, SequenceSpec)
from conformance.cases.recurrent import GRU, LSTM, Recurrent

Tensors = Mapping[str, torch.Tensor]

#: The conventions the layers and losses follow where a call names none (``following``).
_FOLLOWED: ContextVar[Conventions] = ContextVar("conventions", default=PYTORCH)


@contextmanager
def following(conventions: Conventions):
    """Within the block, every layer and loss not given conventions follows these: the oracle
    sets them once per evaluation, so what-if layers (``overrides``) follow them too."""
    token = _FOLLOWED.set(conventions)
    try:
        yield
    finally:
        _FOLLOWED.reset(token)


def followed() -> Conventions:
    """The conventions in force (PyTorch's outside ``following``)."""
    return _FOLLOWED.get()
#: A replacement for layer i: (layer, its input, its parameters by short name) → output.
Override = Callable[[LayerKind, torch.Tensor, dict], torch.Tensor]

ACTIVATION_FNS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, LEAKY_SLOPE),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "elu": lambda z: F.elu(z, ELU_ALPHA),
    "softmax": lambda z: torch.softmax(z, dim=-1),
    "log_softmax": lambda z: torch.log_softmax(z, dim=-1),
    "gelu": lambda z: F.gelu(z, approximate=GELU_APPROXIMATION["gelu"]),
    "gelu_tanh": lambda z: F.gelu(z, approximate=GELU_APPROXIMATION["gelu_tanh"]),
}


@dataclass
class Kinks:
    """Where the network's derivatives jump, as found by one forward (float64, no gradient).

    ``signs``: quantities whose sign decides a derivative (ReLU inputs, hinge margins).
    ``leads``: per max-pool, (the window's input values, the index of each window's maximum).
    """

    signs: list[torch.Tensor] = field(default_factory=list)
    leads: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)


def layer_params(tensors: Tensors, i: int | str) -> dict:
    """Layer ``i``'s parameters and buffers by short name (``weight``, ``bias``, ``mask``)."""
    prefix = f"{i}."
    return {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}


def windows(a: torch.Tensor, kernel: int, stride: int, padding: int = 0) -> torch.Tensor:
    """(batch, C, kernel², windows) of an NCHW tensor, padded with −∞ (a max-pool's padding)."""
    n, c = a.shape[:2]
    padded = F.pad(a, (padding,) * 4, value=float("-inf")) if padding else a
    return F.unfold(padded, kernel, stride=stride).reshape(n, c, kernel * kernel, -1)


def apply_layer(layer: LayerKind, a: torch.Tensor, p: dict, kinks: Kinks | None = None,
                conventions: Conventions | None = None) -> torch.Tensor:
    """One layer of the intended network (its norms' eps as ``conventions``, else ``followed()``, say)."""
    conventions = followed() if conventions is None else conventions
    if isinstance(layer, Dense):
        return F.linear(a, p["weight"], p.get("bias"))
    if isinstance(layer, Activation):
        if kinks is not None and layer.name in ("relu", "leaky_relu"):
            kinks.signs.append(a.detach())
        return ACTIVATION_FNS[layer.name](a)
    if isinstance(layer, Dropout):
        return a * p["mask"] / (1 - layer.p)
    if isinstance(layer, BatchNorm):
        if conventions.batchnorm_eps == 0:  # F.batch_norm refuses eps 0 in training
            return _batch_norm_without_eps(a, p["weight"], p["bias"])
        return F.batch_norm(a, None, None, p["weight"], p["bias"], training=True,
                            eps=conventions.batchnorm_eps)
    if isinstance(layer, LayerNorm):
        return F.layer_norm(a, (layer.features,), p["weight"], p["bias"], eps=conventions.layernorm_eps)
    if isinstance(layer, Conv2d):
        return F.conv2d(a, p["weight"], p.get("bias"), stride=layer.stride, padding=layer.padding)
    if isinstance(layer, MaxPool2d):
        if kinks is not None:
            values = windows(a.detach(), layer.kernel, layer.step, layer.padding)
            kinks.leads.append((values, values.argmax(dim=2, keepdim=True)))
        return F.max_pool2d(a, layer.kernel, layer.step, layer.padding)
    if isinstance(layer, AvgPool2d):  # PyTorch's count_include_pad=True: every window divides by k²
        return F.avg_pool2d(a, layer.kernel, layer.step, layer.padding,
                            count_include_pad=conventions.avgpool_count_include_pad)
    if isinstance(layer, Flatten):
        return torch.flatten(a, 1)
    if isinstance(layer, (Residual, Attention, MultiHeadAttention)):
        return apply_graph_layer(layer, a, p, kinks)
    if isinstance(layer, Recurrent):
        return unrolled(layer, a, p)
    if isinstance(layer, Embedding):  # the indices may arrive as floats (the kink search's float64 copy)
        return F.embedding(a.long(), p["weight"])
    raise ValueError(f"unknown layer {layer!r}")


def _batch_norm_without_eps(a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    axes, shape = ((0,), (1, -1)) if a.dim() == 2 else ((0, 2, 3), (1, -1, 1, 1))
    centred = a - a.mean(dim=axes, keepdim=True)
    xhat = centred / torch.sqrt((centred ** 2).mean(dim=axes, keepdim=True))
    return weight.reshape(shape) * xhat + bias.reshape(shape)


def forward(spec: SequenceSpec, x: torch.Tensor, tensors: Tensors, overrides: Mapping[int, Override] | None = None,
            kinks: Kinks | None = None, conventions: Conventions | None = None) -> torch.Tensor:
    """The network's output for ``x``; layer ``i`` replaced by ``overrides[i]`` where given."""
    a = x
    for i, layer in enumerate(spec.layers):
        p = layer_params(tensors, i)
        a = overrides[i](layer, a, p) if overrides and i in overrides else apply_layer(layer, a, p, kinks, conventions)
    return a


def hinge_margins(y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``1 + s_j − s_label`` for every class j, the label's own entry excluded (set to −1)."""
    chosen = y.gather(1, labels.long()[:, None])
    margins = 1 + y - chosen
    return margins.scatter(1, labels.long()[:, None], -1.0)


def loss_value(name: str, y: torch.Tensor, targets: torch.Tensor, kinks: Kinks | None = None,
               conventions: Conventions | None = None) -> torch.Tensor:
    """The loss the suite means by ``name`` (README, "Names"), without the penalty, under ``conventions``
    (else ``followed()``)."""
    conventions = followed() if conventions is None else conventions
    if not torch_ops.follows_pytorch(name, conventions):
        return torch_ops.conventional_loss(name, y, targets, conventions)
    if name == "softmax_cross_entropy":
        return F.cross_entropy(y, targets.long())
    if name == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(y, targets.to(y.dtype))
    if name == "hinge":
        margins = hinge_margins(y, targets)
        if kinks is not None:
            own = torch.zeros_like(margins, dtype=torch.bool).scatter(1, targets.long()[:, None], True)
            kinks.signs.append(margins.detach()[~own])
        return torch.clamp(margins, min=0).sum() / len(y)
    squared = (y - targets) ** 2
    return {"sse": squared.sum, "half_sse": lambda: 0.5 * squared.sum(), "mse": squared.mean,
            "half_mse": lambda: 0.5 * squared.mean()}[name]()


def penalty(spec: SequenceSpec, tensors: Tensors, batch: int, factor: float | None = None,
            names: Sequence[str] | None = None) -> torch.Tensor:
    """``l2 · factor · Σ‖W‖²`` over the penalised weights (or the tensors ``names``; ``factor`` the
    conventions' for a batch of ``batch`` samples: ½ as PyTorch's)."""
    factor = followed().l2_factor(batch) if factor is None else factor
    names = spec.penalised() if names is None else names
    return spec.l2 * factor * sum((tensors[name] ** 2).sum() for name in names)


def kinks_at(spec: SequenceSpec, x, tensors: Mapping, targets=None) -> Kinks:
    """The kink quantities of the intended network at these numbers (float64)."""
    def as64(a):
        return torch.as_tensor(a).to(torch.float64)
    found = Kinks()
    with torch.no_grad():
        y = forward(spec, as64(x), {k: as64(v) for k, v in tensors.items()}, kinks=found)
        if spec.loss == "hinge":
            loss_value("hinge", y, torch.as_tensor(targets), found)
    return found


# ---- the layers that make a network a graph (cases.graph_layers) ----

def apply_graph_layer(layer: Residual | Attention | MultiHeadAttention, a: torch.Tensor, p: dict,
                      kinks: Kinks | None = None) -> torch.Tensor:
    """A residual block, ``inner(a) + a`` (inner parameters ``inner.{j}.weight`` …), or
    self-attention, ``F.scaled_dot_product_attention(a, a, a, is_causal=…)`` (scale 1/√d), or
    multi-head self-attention (``multi_head``)."""
    if isinstance(layer, Attention):
        return F.scaled_dot_product_attention(a, a, a, is_causal=layer.causal)
    if isinstance(layer, MultiHeadAttention):
        return multi_head(layer, a, p)
    out = a
    for j, inner in enumerate(layer.inner):
        out = apply_layer(inner, out, layer_params(p, f"inner.{j}"), kinks)
    return out + a


def split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    """(batch, seq, E) → (batch, heads, seq, E/heads): head h takes features h·d_head … (h+1)·d_head − 1."""
    n, seq, e = t.shape
    return t.reshape(n, seq, heads, e // heads).transpose(1, 2)


def merge_heads(t: torch.Tensor) -> torch.Tensor:
    """(batch, heads, seq, d_head) → (batch, seq, heads·d_head): ``split_heads`` undone."""
    n, heads, seq, d = t.shape
    return t.transpose(1, 2).reshape(n, seq, heads * d)


def multi_head(layer: MultiHeadAttention, a: torch.Tensor, p: dict, split=split_heads, merge=merge_heads,
               core=None) -> torch.Tensor:
    """``torch.nn.MultiheadAttention(E, heads, batch_first=True)(a, a, a, need_weights=False)`` written
    out (``tests/test_multihead.py`` holds it to the module): the packed ``in_proj``, the heads split,
    ``F.scaled_dot_product_attention`` per head (scale 1/√d_head), merged, ``out_proj``. ``split``,
    ``merge`` and ``core(q, k, v, causal)`` replace those steps (what-ifs)."""
    q, k, v = F.linear(a, p["in_proj_weight"], p["in_proj_bias"]).chunk(3, dim=-1)
    q, k, v = (split(t, layer.num_heads) for t in (q, k, v))
    if core is None:
        heads = F.scaled_dot_product_attention(q, k, v, is_causal=layer.causal)
    else:
        heads = core(q, k, v, layer.causal)
    return F.linear(merge(heads), p["out_proj.weight"], p["out_proj.bias"])


# ---- recurrent kinds ------------------------------------------------------------------------------

#: A recurrent step's state passed on: (layer, h_{t−1}, c_{t−1}) → the same as the next step reads them
#: (the intended one passes them unchanged; a what-if may detach them, cutting the gradient through time).
Carry = Callable[[LayerKind, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def cell_step(layer: Recurrent, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, p: dict,
              cell_carry: Callable | None = None, update_gate: Callable | None = None) -> tuple:
    """One step of ``torch.nn.RNN``/``LSTM``/``GRU`` (PyTorch's gate order): (h_t, c_t).
    ``cell_carry(f, c)`` replaces f·c_{t−1}; ``update_gate(z)`` replaces the GRU's z (what-ifs)."""
    gi = F.linear(x, p["weight_ih_l0"], p["bias_ih_l0"])
    gh = F.linear(h, p["weight_hh_l0"], p["bias_hh_l0"])
    if isinstance(layer, LSTM):
        i, f, g, o = (gi + gh).chunk(4, dim=1)
        f = torch.sigmoid(f)
        kept = cell_carry(f, c) if cell_carry else f * c
        c = kept + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    if isinstance(layer, GRU):
        (ir, iz, inn), (hr, hz, hn) = gi.chunk(3, dim=1), gh.chunk(3, dim=1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        z = update_gate(z) if update_gate else z
        n = torch.tanh(inn + r * hn)
        return (1 - z) * n + z * h, c
    return torch.tanh(gi + gh), c


def unrolled(layer: Recurrent, a: torch.Tensor, p: dict, carry: Carry | None = None, **step) -> torch.Tensor:
    """The hidden state of every step, (batch, time, hidden), from h0 (and c0) given or zeros."""
    zeros = a.new_zeros(a.shape[0], layer.hidden_size)
    h, c, states = p.get("h0", zeros), p.get("c0", zeros), []
    for t in range(a.shape[1]):
        if t and carry is not None:
            h, c = carry(layer, h, c)
        h, c = cell_step(layer, a[:, t], h, c, p, **step)
        states.append(h)
    return torch.stack(states, dim=1)
