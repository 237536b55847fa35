"""The graph layers' mutant bugs: ``reference_graph``'s attention and residual block with
their backward written wrong the classic ways, as subclasses ``sequence_mutants.adapter``
gives every layer of the mutated kind (see ``audit.mutants``).
"""

from __future__ import annotations

import numpy as np

from conformance.implementations.reference_graph import AttentionLayer, MultiHeadAttentionLayer, ResidualLayer


class _AttentionWrong(AttentionLayer):
    """The reference's backward with the scores' gradient computed from ``soft``'s rows, over
    ``axis``, times ``scale``."""

    axis, unscaled, leak = -1, False, False

    def backward(self, grad):
        self.grads = {}
        x, w = self.x, self.weights
        soft = w
        if self.leak:
            scores = (x @ np.swapaxes(x, -1, -2)) * self.scale
            e = np.exp(scores - scores.max(axis=-1, keepdims=True))
            soft = e / e.sum(axis=-1, keepdims=True)
        d_weights = grad @ np.swapaxes(x, -1, -2)
        d_scores = soft * (d_weights - (d_weights * soft).sum(axis=self.axis, keepdims=True))
        d_scores = d_scores if self.unscaled else d_scores * self.scale
        return np.swapaxes(w, -1, -2) @ grad + d_scores @ x + np.swapaxes(d_scores, -1, -2) @ x


class AttentionSoftmaxWrongAxis(_AttentionWrong):
    axis = -2


class AttentionScaleMissing(_AttentionWrong):
    unscaled = True


class AttentionMaskLeaks(_AttentionWrong):
    leak = True


class ResidualBranchNotAdded(ResidualLayer):
    def backward(self, grad):
        super().backward(grad)  # the inner parameters' gradients, right
        return grad


class MultiHeadHeadsJoinedWrong(MultiHeadAttentionLayer):
    """Backward reshapes between (batch, seq, E) and (batch, heads, seq, d_head) without the
    transpose the forward's split and join take: each head's gradient lands on other features."""

    def to_heads_back(self, grad):
        n, seq, e = grad.shape
        return grad.reshape(n, self.heads, seq, e // self.heads)

    def from_heads_back(self, grad):
        n, heads, seq, d = grad.shape
        return grad.reshape(n, seq, heads * d)


class MultiHeadScaleMissing(MultiHeadAttentionLayer):
    """Backward leaves the 1/√d_head out of the scores' gradient (the forward applies it)."""

    def back_scale(self):
        return 1.0


class MultiHeadScaleOfModel(MultiHeadAttentionLayer):
    """Backward scales the scores' gradient by 1/√E, the model's width, not 1/√d_head."""

    def back_scale(self):
        return 1 / np.sqrt(self.x.shape[-1])


class ResidualSkipNotAdded(ResidualLayer):
    def backward(self, grad):
        return super().backward(grad) - grad  # the branch's gradient only, the skip path's dropped
