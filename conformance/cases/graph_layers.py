"""Layer kinds that make a network more than a chain: ``Residual`` (an inner sequence of
layers whose output is added to its input, the skip path) and ``Attention`` (scaled
dot-product self-attention over a (batch, seq, dim) input, optionally causal) and
``MultiHeadAttention`` (``torch.nn.MultiheadAttention``'s self-attention, its heads and projections).

A residual layer at position i names its inner layers' parameters as a PyTorch module
holding them in ``inner`` (an ``nn.Sequential``) would: ``"{i}.inner.{j}.weight"``. A
transformer block is the chain ``Residual(LayerNorm, Attention)``, ``Residual(LayerNorm,
Dense, GELU, Dense)``; a dense layer maps the last axis of any sample shape, as
``torch.nn.Linear`` does. Imports nothing of the harness but the layer kinds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from conformance.cases.layers import LayerKind, SequenceSpec, Shape, _expect

#: The kinds this module adds (also listed in ``layers.LAYER_KINDS``).
GRAPH_KINDS = ("residual", "attention", "multihead_attention")


@dataclass(frozen=True)
class Residual(LayerKind):
    """``inner(x) + x``: the inner layers in order, their output of the input's shape."""

    inner: tuple[LayerKind, ...]
    kind: ClassVar[str] = "residual"

    def __post_init__(self) -> None:
        _expect(bool(self.inner), "a residual block needs at least one inner layer")
        _expect(not any(isinstance(layer, Residual) for layer in self.inner), "residual blocks do not nest")

    def inner_shapes(self, shape: Shape) -> tuple[Shape, ...]:
        found = [tuple(shape)]
        for layer in self.inner:
            found.append(layer.out_shape(found[-1]))
        return tuple(found)

    def out_shape(self, shape: Shape) -> Shape:
        out = self.inner_shapes(shape)[-1]
        _expect(out == tuple(shape), f"a residual block's inner layers map {shape} to {out}, not to {shape}")
        return out

    def _entered(self, shape: Shape):
        """(j, inner layer j, the shape entering it)."""
        return [(j, layer, entering) for j, (layer, entering) in enumerate(zip(self.inner, self.inner_shapes(shape)))]

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {f"inner.{j}.{name}": sub for j, layer, entering in self._entered(shape)
                for name, sub in layer.param_shapes(entering).items()}

    def buffers(self, shape: Shape, batch: int) -> dict[str, Shape]:
        """The inner layers' buffers (a dropout's keep-mask ``"inner.{j}.mask"``)."""
        return {f"inner.{j}.{name}": sub for j, layer, entering in self._entered(shape)
                for name, sub in layer.buffers(entering, batch).items()}

    def penalised(self, shape: Shape) -> tuple[str, ...]:
        return tuple(f"inner.{j}.{name}" for j, layer, entering in self._entered(shape)
                     for name in layer.penalised(entering))

    def label_for(self, shape: Shape) -> str:
        inner = "_".join(layer.label_for(entering) for layer, entering in zip(self.inner, self.inner_shapes(shape)))
        return f"residual_{inner}"


@dataclass(frozen=True)
class Attention(LayerKind):
    """Scaled dot-product self-attention, ``softmax(x xᵀ/√d [+ causal mask]) x`` per sample of
    (seq, d): queries, keys and values are the input itself (``F.scaled_dot_product_attention
    (x, x, x, is_causal=causal)``); causal: position t attends to positions ≤ t."""

    causal: bool = False
    kind: ClassVar[str] = "attention"

    def out_shape(self, shape: Shape) -> Shape:
        _expect(len(shape) == 2, f"attention takes (seq, dim) per sample, got {shape}")
        return tuple(shape)

    @property
    def label(self) -> str:
        return "attention.causal" if self.causal else "attention"


@dataclass(frozen=True)
class MultiHeadAttention(LayerKind):
    """``torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)`` as self-attention,
    ``mha(x, x, x, need_weights=False, attn_mask=causal mask, is_causal=causal)``, on (seq,
    embed_dim) per sample. Its parameters are PyTorch's, in the ``in_proj`` layout (one packed
    projection, not separate q/k/v ones): ``in_proj_weight`` (3·E, E) and ``in_proj_bias``
    (3·E,), the rows stacked query, key, value; ``out_proj.weight`` (E, E) and
    ``out_proj.bias`` (E,). q, k, v = x W_qᵀ + b_q, …; each splits its last axis into
    ``num_heads`` heads of d_head = E/num_heads consecutive features; per head
    softmax(q kᵀ/√d_head [+ causal mask]) v; the heads concatenated back and projected by
    ``out_proj``. No dropout; causal: position t attends to positions ≤ t."""

    embed_dim: int
    num_heads: int = 2
    causal: bool = False
    kind: ClassVar[str] = "multihead_attention"

    def __post_init__(self) -> None:
        _expect(self.embed_dim > 0 and self.num_heads > 0 and self.embed_dim % self.num_heads == 0,
                f"embed_dim {self.embed_dim} must be a positive multiple of num_heads {self.num_heads}")

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    def out_shape(self, shape: Shape) -> Shape:
        _expect(len(shape) == 2 and shape[1] == self.embed_dim,
                f"multihead_attention takes (seq, {self.embed_dim}) per sample, got {shape}")
        return tuple(shape)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        e = self.embed_dim
        return {"in_proj_weight": (3 * e, e), "in_proj_bias": (3 * e,), "out_proj.weight": (e, e),
                "out_proj.bias": (e,)}

    @property
    def label(self) -> str:
        return f"mha.h{self.num_heads}" + (".causal" if self.causal else "")


def dim_scale(dim: int) -> float:
    """The 1/√d of scaled dot-product attention."""
    return 1 / math.sqrt(dim)


def kinds_within(spec: SequenceSpec) -> tuple[str, ...]:
    """Every kind a network uses, the inner layers of its residual blocks included, in order."""
    found = []
    for layer in spec.layers:
        found.append(layer.kind)
        found += [inner.kind for inner in getattr(layer, "inner", ())]
    return tuple(dict.fromkeys(found))


def layer_named(spec: SequenceSpec, tensor: str) -> LayerKind:
    """The layer that owns a parameter or buffer name, inside a residual block if it is one."""
    parts = tensor.split(".")
    layer = spec.layers[int(parts[0])]
    if isinstance(layer, Residual) and parts[1] == "inner":
        return layer.inner[int(parts[2])]
    return layer
