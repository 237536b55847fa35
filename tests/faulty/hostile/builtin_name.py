"""Calls itself like a bundled implementation with recorded known defects, hoping to have
its own wrong gradients excused."""
from _honest import Correct
from conformance import Gradients


class TwoLayerSgd(Correct):
    name = "two_layer_sgd"

    def backward(self, grad_output):
        g = super().backward(grad_output)
        return Gradients(g.input, tuple(2 * w for w in g.weights), g.biases)
