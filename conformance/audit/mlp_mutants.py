"""The reference MLP with one overridable method per step of its forward and backward
(``Mutable``), and each MLP bug of the self-audit as one override: the reference with exactly
one bug. ``mutants`` pairs each with the diagnosis it should get.

Layers are chosen by position (first, middle, last) so that each bug sits where its name
says, on every depth of the grid that has such a layer.
"""

from __future__ import annotations

import numpy as np

from conformance.cases.spec import LOSSES, NetworkSpec, Params
from conformance.contract.adapter import Capabilities, Gradients
from conformance.implementations.reference_numpy import (MLP, ReferenceNumpy, activate, activation_derivative,
                                                          loss_and_gradient)


class Mutable(MLP):
    """The reference MLP, one method per step; unchanged, it computes exactly what the reference does."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.inputs, self.pre, self.post = [], [], []
        a = x
        for i, (w, b, name) in enumerate(zip(self.weights, self.biases, self.activations)):
            self.inputs.append(a)
            z = self.affine(i, a, w, b)
            a = self.activate(i, name, z)
            self.pre.append(z)
            self.post.append(a)
        return a

    def backward(self, grad_output: np.ndarray):
        depth = len(self.weights)
        grad_w, grad_b = [None] * depth, [None] * depth
        grad = grad_output
        for i in reversed(range(depth)):
            self.reaching = grad  # the gradient at layer i's output, for a mutant to misuse
            delta = grad * self.derivative(i, self.activations[i], self.pre[i], self.post[i])
            grad_w[i] = self.weight_gradient(i, delta, self.inputs[i])
            grad_b[i] = None if self.biases[i] is None else self.bias_gradient(i, delta)
            grad = self.passed_down(i, delta, self.weights[i], grad_w[i])
        return grad, grad_w, grad_b

    @property
    def last(self) -> int:
        return len(self.weights) - 1

    def affine(self, i, a, w, b):
        return a @ w.T if b is None else a @ w.T + b

    def activate(self, i, name, z):
        return activate(name, z)

    def derivative(self, i, name, z, a):
        return activation_derivative(name, z, a)

    def weight_gradient(self, i, delta, inputs):
        return delta.T @ inputs

    def bias_gradient(self, i, delta):
        return delta.sum(axis=0)

    def passed_down(self, i, delta, w, grad_w):
        return delta @ w

    def loss_gradient(self, name, y, targets):
        return loss_and_gradient(name, y, targets)


class MutantAdapter(ReferenceNumpy):
    """The reference adapter around a ``Mutable`` network (``network`` names the subclass)."""

    network: type[Mutable] = Mutable
    #: The MLP bugs run on MLPs only (the layer-sequence mutants are ``sequence_mutants``').
    capabilities = Capabilities(losses=frozenset(LOSSES))

    def build(self, spec: NetworkSpec, params: Params) -> None:
        self.loss_name = spec.loss
        self.net = self.network([w.copy() for w in params.weights], params.biases,
                                [layer.activation for layer in spec.layers])

    def loss(self, x: np.ndarray, targets: np.ndarray) -> tuple[float, Gradients]:
        loss, grad_output = self.net.loss_gradient(self.loss_name, self.forward(x), targets)
        return loss, self.backward(grad_output)


# ---- the bugs --------------------------------------------------------------------------------------

def _z_derivative(name, z):
    return activation_derivative(name, z, activate(name, z))


class LossGradientMissesMean(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, grad * y.size if name in ("mse", "half_mse") else grad


class LossGradientMissesOutputs(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, grad * y.shape[1] if name in ("mse", "half_mse") else grad


class LossGradientSign(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, -grad


class HalfLossGradientDoubled(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, 2 * grad if name in ("half_sse", "half_mse") else grad


class CrossEntropyMissesBatchMean(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, grad * len(y) if name == "softmax_cross_entropy" else grad


class LastBiasNotSummed(Mutable):
    def bias_gradient(self, i, delta):
        return delta.copy() if i == self.last else delta.sum(axis=0)


class FirstBiasAveraged(Mutable):
    def bias_gradient(self, i, delta):
        return delta.mean(axis=0) if i == 0 else delta.sum(axis=0)


class FirstWeightGradientTransposed(Mutable):
    def weight_gradient(self, i, delta, inputs):
        return inputs.T @ delta if i == 0 else delta.T @ inputs


class LastWeightGradientAveraged(Mutable):
    def weight_gradient(self, i, delta, inputs):
        return delta.T @ inputs / (len(delta) if i == self.last else 1)


class MiddleTransposedWeightInBackward(Mutable):
    """Only where layer 1 is square: elsewhere Wᵀ has the wrong shape and the bug is a crash
    that no one ships (and the suite reports as an error, not as this bug)."""

    def passed_down(self, i, delta, w, grad_w):
        square = w.shape[0] == w.shape[1]
        return delta @ w.T if i == 1 and 0 < i < self.last and square else delta @ w


class DerivativeAtOutput(Mutable):
    def derivative(self, i, name, z, a):
        return _z_derivative(name, a)


class FirstDerivativeFormulaAtPreactivation(Mutable):
    def derivative(self, i, name, z, a):
        return activation_derivative(name, z, z) if i == 0 else activation_derivative(name, z, a)


class LastDerivativeMissing(Mutable):
    def derivative(self, i, name, z, a):
        return np.ones_like(z) if i == self.last else activation_derivative(name, z, a)


class SigmoidUsesTanhDerivative(Mutable):
    def derivative(self, i, name, z, a):
        return _z_derivative("tanh", z) if name == "sigmoid" else activation_derivative(name, z, a)


class FirstForwardUsesDerivative(Mutable):
    """Seed 002's bug, in the first layer: the forward applies the activation's derivative."""

    def activate(self, i, name, z):
        return _z_derivative(name, z) if i == 0 else activate(name, z)

    def derivative(self, i, name, z, a):
        return _z_derivative(name, z)


class FirstForwardWithoutBias(Mutable):
    def affine(self, i, a, w, b):
        return a @ w.T if i == 0 or b is None else a @ w.T + b


class LastPassesDownNegated(Mutable):
    def passed_down(self, i, delta, w, grad_w):
        return -(delta @ w) if i == self.last and i > 0 else delta @ w


class LastUpdatedBeforePassingDown(Mutable):
    """Updates its last layer's weights in place (SGD, rate 0.5) before passing the gradient down."""

    RATE = 0.5

    def passed_down(self, i, delta, w, grad_w):
        if i == self.last:
            w -= self.RATE * grad_w.astype(w.dtype)
        return delta @ w


class DerivativeOneLayerOff(Mutable):
    """Seed 003's recursion: a hidden layer's derivative taken at the next layer's
    pre-activation. Where the two widths differ the seed's shapes clash; here the layer
    then keeps its own, so the bug shows wherever it can run."""

    def derivative(self, i, name, z, a):
        above = self.pre[i + 1] if i < self.last else z
        return _z_derivative(name, above if above.shape == z.shape else z)


class TanhDerivativeNotSquared(Mutable):
    """``1 - a`` written for tanh's derivative instead of ``1 - a**2``."""

    def derivative(self, i, name, z, a):
        return 1 - a if name == "tanh" else activation_derivative(name, z, a)


class AllUpdatedBeforePassingDown(Mutable):
    """Every layer updates its weights in place (SGD, rate 0.5) before passing the gradient down."""

    RATE = 0.5

    def passed_down(self, i, delta, w, grad_w):
        w -= self.RATE * grad_w.astype(w.dtype)
        return delta @ w


class InputGradientSkipsFirstDerivative(Mutable):
    """The input gradient is the gradient at the first layer's output times W, its activation
    derivative skipped; the first layer's weight and bias gradients are right."""

    def passed_down(self, i, delta, w, grad_w):
        return (self.reaching if i == 0 else delta) @ w


class LossPlusConstant(Mutable):
    """The loss value reported is the right one plus 0.1 (its gradient is right)."""

    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss + 0.1, grad


class LossIsSumOfSquaredGradients(Mutable):
    """The softmax cross-entropy reported as the sum of its squared gradient (the gradient is
    right). Only there: for the squared-error losses that sum is a constant times the loss
    (4× for sse), which a factor rightly describes."""

    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        if name != "softmax_cross_entropy":
            return loss, grad
        return float(np.sum(grad.astype(np.float64) ** 2)), grad


class AccumulatesGradients(Mutable):
    """Weight and bias gradients added to stored ones on every backward, never zeroed."""

    def weight_gradient(self, i, delta, inputs):
        stored = self.__dict__.setdefault("stored_w", {})
        stored[i] = stored.get(i, 0) + delta.T @ inputs
        return stored[i]

    def bias_gradient(self, i, delta):
        stored = self.__dict__.setdefault("stored_b", {})
        stored[i] = stored.get(i, 0) + delta.sum(axis=0)
        return stored[i]


class StaleInputCache(Mutable):
    """Keeps the first forward's input and differentiates the first layer with it ever after."""

    def forward(self, x):
        self.__dict__.setdefault("first_input", x.copy())
        out = super().forward(x)
        self.inputs[0] = self.first_input
        return out


class LastWeightGradientFromPreactivation(Mutable):
    """A bug outside the hypothesis library: the last layer's weight gradient takes the layer
    below's pre-activation where its activation (this layer's input) belongs."""

    def weight_gradient(self, i, delta, inputs):
        return delta.T @ (self.pre[i - 1] if i == self.last and i > 0 else inputs)
