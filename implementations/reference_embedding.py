"""The project's own NumPy embedding layer (``cases.embedding``), in the style of
``reference_layers``: ``forward`` looks the rows up, ``backward`` adds each position's
gradient into its token's row (``np.add.at``: a token repeated in the batch gets the sum)
and returns no input gradient, the indices being integers."""

from __future__ import annotations

import numpy as np


class EmbeddingLayer:
    """``weight[x]`` for integer indices ``x`` (batch, seq) and weight (num_embeddings, dim)."""

    def __init__(self, weight):
        self.weight = weight

    def forward(self, x):
        self.indices = np.asarray(x)
        return self.weight[self.indices]

    def backward(self, grad):
        self.grads = {"weight": self.row_gradients(self.indices.reshape(-1), grad.reshape(-1, grad.shape[-1]))}
        return None

    def row_gradients(self, tokens, grad):
        """Each row's gradient: the sum of the gradients at the positions holding its token."""
        rows = np.zeros_like(self.weight)
        np.add.at(rows, tokens, grad)
        return rows
