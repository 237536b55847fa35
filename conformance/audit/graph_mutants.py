"""The graph layers' mutant bugs: ``reference_graph``'s attention and residual block with
their backward written wrong the classic ways, as subclasses ``sequence_mutants.adapter``
gives every layer of the mutated kind (see ``audit.mutants``).
"""

from __future__ import annotations

import numpy as np

from conformance.implementations.reference_graph import AttentionLayer, ResidualLayer


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


class ResidualSkipNotAdded(ResidualLayer):
    def backward(self, grad):
        return super().backward(grad) - grad  # the branch's gradient only, the skip path's dropped
