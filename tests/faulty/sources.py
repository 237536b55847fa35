"""Plug-in files as a user writes them, as source text the tests write to disk and check by path."""

#: An adapter whose first weight gradient is doubled: one wrong tensor, everything else right.
DOUBLED = """\
from conformance import Gradients
from implementations.reference_numpy import ReferenceNumpy


class Doubled(ReferenceNumpy):
    name = "doubled"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, (2 * grads.weights[0],) + grads.weights[1:], grads.biases)
"""
