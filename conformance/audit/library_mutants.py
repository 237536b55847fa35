"""Mutants written the way small third-party libraries are, unlike the reference's arrays
walked by index: layer objects that own an activation object and hand the gradient down
(``NextLayerActivation``), and a cross-entropy computed from one-hot label vectors
(``OneHotShifted``). ``audit.mutants`` lists them with the diagnosis each should get.
"""

from __future__ import annotations

import numpy as np

from conformance.cases.layers import LAYER_KINDS, SequenceSpec
from conformance.contract.adapter import Capabilities, Gradients
from conformance.implementations.reference_layers import l2_penalty
from conformance.implementations.reference_numpy import ReferenceNumpy, loss_and_gradient


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

    def df_out(self, a):
        """The derivative written in terms of the output a = f(z), as code that caches outputs has it."""
        if self.name in ("tanh", "sigmoid"):
            return 1 - a * a if self.name == "tanh" else a * (1 - a)
        return (a > 0).astype(a.dtype) if self.name == "relu" else np.ones_like(a)


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
        delta = grad_output * self.top_derivative()
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            grad_w.insert(0, delta.T @ layer.x)
            grad_b.insert(0, None if layer.bias is None else delta.sum(axis=0))
            passed = delta @ layer.weight
            if i > 0:
                delta = passed * self.derivative_below(i)
        return passed, grad_w, grad_b

    def top_derivative(self):
        """The output layer's own derivative (right)."""
        return self.layers[-1].act.df(self.layers[-1].z)

    def derivative_below(self, i):
        """The bug: layer i's derivative at the pre-activation of layer i − 1."""
        return self.layers[i].act.df(self.layers[i - 1].z)

    def loss_gradient(self, name, y, targets):
        return loss_and_gradient(name, y, targets)


class NextLayerActivationFromOutput(NextLayerActivation):
    """As ``NextLayerActivation``, in the style of code that caches outputs: the gradient passed
    down multiplied by the upper layer's derivative formula in terms of the output
    (``layer.act.df_out``), applied to the lower layer's own output."""

    def top_derivative(self):
        top = self.layers[-1]
        return top.act.df_out(top.act.f(top.z))

    def derivative_below(self, i):
        """The bug: layer i's formula in terms of the output, applied to its input (layer i − 1's output)."""
        return self.layers[i].act.df_out(self.layers[i].x)


class OneHotShifted(ReferenceNumpy):
    """The cross-entropy of a library that encodes labels one-hot as ``onehot[rows, labels - 1] = 1``
    (labels taken for 1-based: class k lands at k − 1, class 0 at the last), then takes
    −Σ onehot·log softmax and its gradient (softmax − onehot)/n; MLPs and layer networks."""

    capabilities = Capabilities(losses=frozenset({"softmax_cross_entropy"}), vjp=False,
                                layers=frozenset(LAYER_KINDS), penalties=frozenset({"l2"}))
    #: Added to every label before it indexes the one-hot row (wrapping round the classes).
    offset = -1

    def loss(self, x, targets):
        logits = self.forward(x)
        rows = np.arange(len(logits))
        onehot = np.zeros_like(logits)
        onehot[rows, (np.asarray(targets) + self.offset) % logits.shape[1]] = 1
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -float((onehot * log_probs).sum()) / len(logits)
        grads = self.backward((np.exp(log_probs) - onehot) / len(logits))
        if not isinstance(self.spec, SequenceSpec):
            return loss, grads
        penalty, penalty_grads = l2_penalty(self.spec, self.params)
        named = {name: g + penalty_grads.get(name, 0) for name, g in grads.named.items()}
        return loss + penalty, Gradients(grads.input, named=named)


def one_hot_shifted(name: str, bug: str) -> type[OneHotShifted]:
    return type(f"Mutant_{name}", (OneHotShifted,), {"name": f"mutant:{name}", "description": bug,
                                                     "__module__": __name__})
