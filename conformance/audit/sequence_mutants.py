"""The layer-sequence mutants' bugs: ``reference_layers`` with one layer's backward (or the
L2 penalty's gradient) written wrong, the way people get them wrong by hand.

Each bug is a subclass of one reference layer class overriding its ``backward``;
``SequenceMutantAdapter`` builds the reference network and gives every layer of the
mutated kind the buggy class. ``audit.mutants`` lists them with the diagnosis each
should get.
"""

from __future__ import annotations

import numpy as np

from conformance.cases.layers import LAYER_KINDS, SEQUENCE_LOSSES, NamedParams, SequenceSpec
from conformance.contract.adapter import Capabilities, Gradients
from conformance.implementations.reference_layers import (ActivationLayer, ConvLayer, DropoutLayer, NormLayer,
                                                          PoolLayer, _offsets, _view)
from conformance.implementations.reference_embedding import EmbeddingLayer
from conformance.implementations.reference_numpy import ReferenceNumpy, sequence_loss_and_gradient
from conformance.implementations.reference_recurrent import RecurrentLayer


class NormConstantStatistics(NormLayer):
    """The classic batch-norm bug: backward treats the mean and variance as constants."""

    def backward(self, grad):
        super().backward(grad)
        return grad * self.weight * self.inv_std


class EmbeddingRowsOverwritten(EmbeddingLayer):
    """``dW[token] = grad`` position by position where ``+=`` is due: a repeated token keeps its
    last position's gradient."""

    def row_gradients(self, tokens, grad):
        rows = np.zeros_like(self.weight)
        for token, row in zip(tokens, grad):
            rows[token] = row
        return rows


class SoftmaxDiagonal(ActivationLayer):
    def backward(self, grad):
        if self.name != "softmax":
            return super().backward(grad)
        self.grads = {}
        return grad * self.a * (1 - self.a)


class GeluConventionSwapped(ActivationLayer):
    """A GELU computing the other convention's formula (the tanh approximation for the exact GELU),
    forward and backward (the mutant's class is set on a built layer: the swap happens once)."""

    def forward(self, z):
        if not getattr(self, "swapped", False):
            self.name, self.swapped = {"gelu": "gelu_tanh", "gelu_tanh": "gelu"}.get(self.name, self.name), True
        return super().forward(z)


class DropoutBackwardWithoutScale(DropoutLayer):
    def backward(self, grad):
        self.grads = {}
        return grad * self.mask


class DropoutBackwardWithoutMask(DropoutLayer):
    def backward(self, grad):
        self.grads = {}
        return grad * self.scale


def _padded_input_gradient(conv: ConvLayer, weight: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The gradient for the padded input, passed down through ``weight``."""
    s, kernel = conv.stride, weight.shape[2]
    rows, cols = grad.shape[2:]
    dxp = np.zeros_like(conv.xp)
    for di, dj in _offsets(kernel):
        _view(dxp, di, dj, s, rows, cols)[...] += np.einsum("nohw,oc->nchw", grad, weight[:, :, di, dj])
    return dxp


class ConvBackwardKernelFlipped(ConvLayer):
    """The input's gradient through the kernel flipped in both spatial axes."""

    def backward(self, grad):
        super().backward(grad)  # the weight and bias gradients, right
        dxp, p = _padded_input_gradient(self, self.weight[:, :, ::-1, ::-1], grad), self.padding
        return dxp[:, :, p:dxp.shape[2] - p, p:dxp.shape[3] - p]


class ConvBackwardPaddingIgnored(ConvLayer):
    """The input's gradient cut from the padded input's at its corner, as if unpadded."""

    def backward(self, grad):
        dx = super().backward(grad)
        return _padded_input_gradient(self, self.weight, grad)[:, :, :dx.shape[2], :dx.shape[3]]


class MaxPoolEveryElement(PoolLayer):
    def backward(self, grad):
        if self.kind != "maxpool2d":
            return super().backward(grad)
        self.grads = {}
        dx = np.zeros(self.shape, dtype=grad.dtype)
        for di, dj in _offsets(self.kernel):
            _view(dx, di, dj, self.stride, self.rows, self.cols)[...] += grad
        return self.unpadded(dx)


class MaxPoolOverwrites(PoolLayer):
    """Written window by window, as in a course's loops: each window's gradient assigned to
    its maximum with ``=``, so overlapping windows sharing a maximum keep only the last one's."""

    def backward(self, grad):
        if self.kind != "maxpool2d":
            return super().backward(grad)
        self.grads = {}
        k, s = self.kernel, self.stride
        n, c = grad.shape[:2]
        batch, channel = np.ogrid[:n, :c]
        dx = np.zeros(self.shape, dtype=grad.dtype)
        for r in range(grad.shape[2]):
            for q in range(grad.shape[3]):
                pick = self.winner[:, :, r, q]
                dx[batch, channel, r * s + pick // k, q * s + pick % k] = grad[:, :, r, q]
        return self.unpadded(dx)


class AvgPoolDividesByKernel(PoolLayer):
    """Average pool whose backward spreads each window's gradient divided by k, not k²."""

    def backward(self, grad):
        if self.kind != "avgpool2d":
            return super().backward(grad)
        self.grads = {}
        dx = np.zeros(self.shape, dtype=grad.dtype)
        k, s = self.kernel, self.stride
        for r in range(grad.shape[2]):
            for q in range(grad.shape[3]):
                dx[:, :, r * s:r * s + k, q * s:q * s + k] += grad[:, :, r:r + 1, q:q + 1] / k
        return self.unpadded(dx)


class SequenceMutantAdapter(ReferenceNumpy):
    """The reference on layer-sequence networks only, every layer of kind ``kind`` given the
    class ``layer``; ``penalty_factor`` scales the L2 penalty's gradient (1: intended)."""

    capabilities = Capabilities(losses=frozenset(SEQUENCE_LOSSES), layers=frozenset(LAYER_KINDS),
                                penalties=frozenset({"l2"}), mlp=False)
    kind: str = ""
    layer: type | None = None
    penalty_factor: float = 1.0

    def build(self, spec: SequenceSpec, params: NamedParams) -> None:
        super().build(spec, params)
        for kind, layer in zip(spec.kinds, self.net.layers):
            if kind == self.kind or (self.kind == "activation" and isinstance(layer, ActivationLayer)) \
                    or (self.kind == "recurrent" and isinstance(layer, RecurrentLayer)):
                layer.__class__ = self.layer

    def sequence_loss(self, x, targets):
        loss, grad_output = sequence_loss_and_gradient(self.loss_name, self.forward(x), targets)
        grads = self.backward(grad_output)
        named = dict(grads.named)
        for name in self.spec.penalised() if self.spec.l2 else ():
            named[name] = named[name] + self.penalty_factor * self.spec.l2 * self.params[name]
        penalty = sum(0.5 * self.spec.l2 * float((self.params[n].astype(np.float64) ** 2).sum())
                      for n in self.spec.penalised()) if self.spec.l2 else 0.0
        return loss + penalty, Gradients(grads.input, named=named)


def adapter(name: str, bug: str, kind: str = "", layer: type | None = None,
            penalty_factor: float = 1.0) -> type[SequenceMutantAdapter]:
    return type(f"Mutant_{name}", (SequenceMutantAdapter,), {
        "name": f"mutant:{name}", "description": bug, "kind": kind, "layer": layer,
        "penalty_factor": penalty_factor, "__module__": __name__})
