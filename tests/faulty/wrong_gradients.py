"""Correctly shaped but wrong gradients, built on the reference implementation: what the
finite-difference checks must catch with no PyTorch to compare against."""

from __future__ import annotations

from conformance.contract.adapter import Capabilities, Gradients
from conformance.cases.spec import LOSSES
from conformance.implementations.reference_numpy import ReferenceNumpy


def doubled(g: Gradients) -> Gradients:
    return Gradients(2 * g.input, tuple(2 * w for w in g.weights),
                     tuple(None if b is None else 2 * b for b in g.biases))


def first_square(weights) -> int | None:
    """The index of the first square weight (whose transpose has the right shape), or None."""
    return next((i for i, w in enumerate(weights) if w.shape[0] == w.shape[1]), None)


class DoubledBackward(ReferenceNumpy):
    """Every gradient twice what it should be (``loss`` backpropagates through ``backward`` too)."""

    name = "doubled_backward"

    def backward(self, grad_output):
        return doubled(super().backward(grad_output))


class TransposedSquareWeight(ReferenceNumpy):
    """The gradient of the first square weight handed back transposed (so its shape is right)."""

    name = "transposed_square_weight"

    def backward(self, grad_output):
        return self.transposed(super().backward(grad_output))

    @staticmethod
    def transposed(g: Gradients) -> Gradients:
        i = first_square(g.weights)
        if i is None:
            return g
        return Gradients(g.input, g.weights[:i] + (g.weights[i].T,) + g.weights[i + 1:], g.biases)


def float32_only(adapter: type) -> type:
    """The same implementation declaring float32 only, so finite differences run in float32."""
    capabilities = Capabilities(losses=frozenset(LOSSES), dtypes=frozenset({"float32"}))
    return type(f"{adapter.__name__}Float32", (adapter,), {"name": adapter.name + "_float32",
                                                          "capabilities": capabilities})


class TwoCauses(ReferenceNumpy):
    """Two bugs in different cases: the first weight's gradient doubled where the first layer is
    a ReLU, the input's gradient doubled elsewhere."""

    name = "two_causes"

    def build(self, spec, params):
        super().build(spec, params)
        self.relu_first = getattr(spec.layers[0], "activation", "") == "relu"

    def backward(self, grad_output):
        g = super().backward(grad_output)
        if self.relu_first:
            return Gradients(g.input, (2 * g.weights[0],) + g.weights[1:], g.biases)
        return Gradients(2 * g.input, g.weights, g.biases)
