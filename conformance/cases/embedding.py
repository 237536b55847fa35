"""The ``embedding`` layer kind: ``torch.nn.Embedding`` over a network's integer input.

A network that starts with an embedding takes samples of token indices, shape (seq,), and
hands the layer's output on as (seq, dim): row ``x[t]`` of the weight for each position. Its
one parameter is ``"0.weight"``, (num_embeddings, dim), PyTorch's layout. The indices are not
differentiated: finite differences never perturb them, no gradient is asked for the input,
and a token repeated in a batch adds its positions' gradients into its one row. Imports
nothing of the harness but the layer kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from conformance.cases.layers import LayerKind, Shape, _expect


@dataclass(frozen=True)
class Embedding(LayerKind):
    """``weight[x]``: (seq,) integer indices in [0, num_embeddings) → (seq, dim); the network's first layer."""

    num_embeddings: int
    dim: int
    kind: ClassVar[str] = "embedding"
    takes_indices: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _expect(self.num_embeddings >= 2 and self.dim >= 1,
                f"an embedding needs two rows or more and a width, got {self.num_embeddings}×{self.dim}")

    def out_shape(self, shape: Shape) -> Shape:
        _expect(len(shape) == 1, f"embedding takes (seq,) token indices per sample, got {shape}")
        return (shape[0], self.dim)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (self.num_embeddings, self.dim)}
