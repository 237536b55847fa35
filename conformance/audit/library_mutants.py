"""Mutants written the way small third-party libraries are, unlike the reference's arrays
walked by index: layer objects that own an activation object and hand the gradient down
(``NextLayerActivation``), and a cross-entropy computed from one-hot label vectors
(``OneHotShifted``). ``audit.mutants`` lists them with the diagnosis each should get.
"""

from __future__ import annotations

import numpy as np

from conformance.implementations.reference_numpy import loss_and_gradient


class _Activation:
    """An activation object: ``f(z)`` and its derivative ``df(z)``, both of the pre-activation."""

    def __init__(self, name: str):
        self.name = name

    def f(self, z):
        if self.name == "sigmoid":
            return 0.5 * (1 + np.tanh(0.5 * z))
        return {"identity": lambda v: v, "relu": lambda v: np.where(v > 0, v, 0 * v), "tanh": np.tanh}[self.name](z)

    def df(self, z):
        if self.name in ("tanh", "sigmoid"):
            a = self.f(z)
            return 1 - a * a if self.name == "tanh" else a * (1 - a)
        return (z > 0).astype(z.dtype) if self.name == "relu" else np.ones_like(z)


class _Dense:
    """``act(x Wᵀ + b)``, keeping its input and pre-activation."""

    def __init__(self, weight, bias, act: _Activation):
        self.weight, self.bias, self.act = weight, bias, act

    def __call__(self, x):
        self.x = x
        self.z = x @ self.weight.T if self.bias is None else x @ self.weight.T + self.bias
        return self.act.f(self.z)


class NextLayerActivation:
    """The library's backward: the output layer's delta with its own derivative, then, layer by
    layer downwards, the gradient passed down multiplied by the derivative of the layer it came
    from (``layer.act``) at the lower layer's pre-activation, where the lower layer's own
    activation is due."""

    def __init__(self, weights, biases, activations):
        self.layers = [_Dense(w, b, _Activation(name)) for w, b, name in zip(weights, biases, activations)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_output):
        grad_w, grad_b = [], []
        delta = grad_output * self.layers[-1].act.df(self.layers[-1].z)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            grad_w.insert(0, delta.T @ layer.x)
            grad_b.insert(0, None if layer.bias is None else delta.sum(axis=0))
            passed = delta @ layer.weight
            if i > 0:
                delta = passed * layer.act.df(self.layers[i - 1].z)
        return passed, grad_w, grad_b

    def loss_gradient(self, name, y, targets):
        return loss_and_gradient(name, y, targets)

