"""Honest and wrong: the first layer's bias gradient is averaged over the batch."""

from _honest import Correct

from conformance import Gradients


class Bob(Correct):
    name = "bob"

    def backward(self, grad_output):
        g = super().backward(grad_output)
        biases = tuple(None if b is None else (b / len(grad_output) if i == 0 else b) for i, b in enumerate(g.biases))
        return Gradients(g.input, g.weights, biases)
