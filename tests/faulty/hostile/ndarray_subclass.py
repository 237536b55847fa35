"""Honest and correct, but returns its arrays as an ndarray subclass of its own (which the
grader cannot import: it must not need to)."""
import numpy as np

from _honest import Correct
from conformance import Gradients


class Tracked(np.ndarray):
    pass


def _tracked(a):
    return None if a is None else np.asarray(a).view(Tracked)


class NdarraySubclass(Correct):
    name = "ndarray_subclass"

    def forward(self, x):
        return _tracked(super().forward(x))

    def backward(self, grad_output):
        g = super().backward(grad_output)
        return Gradients(_tracked(g.input), tuple(map(_tracked, g.weights)), tuple(map(_tracked, g.biases)))
