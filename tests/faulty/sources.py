"""Plug-in files as a user writes them, as source text the tests write to disk and check by path."""

#: An adapter whose first weight gradient is doubled: one wrong tensor, everything else right.
DOUBLED = """\
from conformance import Gradients
from conformance.implementations.reference_numpy import ReferenceNumpy


class Doubled(ReferenceNumpy):
    name = "doubled"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, (2 * grads.weights[0],) + grads.weights[1:], grads.biases)
"""

TRANSPOSED = """\
from conformance import Gradients
from conformance.implementations.reference_numpy import ReferenceNumpy


class Transposed(ReferenceNumpy):
    name = "transposed"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, tuple(w.T for w in grads.weights), grads.biases)
"""

RAISES = """\
from conformance.implementations.reference_numpy import ReferenceNumpy


class Raises(ReferenceNumpy):
    name = "raises"

    def backward(self, grad_output):
        raise ValueError("shapes (4,2) and (3,4) not aligned")
"""

NARROW = """\
from conformance import Capabilities
from conformance.implementations.reference_numpy import ReferenceNumpy


class Narrow(ReferenceNumpy):
    name = "narrow"
    capabilities = Capabilities(min_depth=5)  # the grid's networks have 1 to 4 layers
"""
