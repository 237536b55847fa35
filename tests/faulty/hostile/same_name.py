"""Calls itself like the honest correct neighbour, with wrong gradients."""
from _honest import Correct
from conformance import Gradients


class SameName(Correct):
    name = "alice"

    def backward(self, grad_output):
        g = super().backward(grad_output)
        return Gradients(2 * g.input, g.weights, g.biases)
