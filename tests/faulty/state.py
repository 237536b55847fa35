"""Implementations whose repeated calls differ: by rounding only (every sum in a random order,
correct), by more than rounding (noise from the second call on), or because one model keeps
state between calls (gradients accumulated, a stale cache). Module level, so a worker can load them."""

from __future__ import annotations

import numpy as np

from conformance.contract.adapter import Gradients
from conformance.audit.mlp_mutants import Mutable, MutantAdapter
from conformance.implementations.reference_numpy import ReferenceNumpy, activation_derivative, loss_and_gradient

_shuffle = np.random.default_rng()  # unseeded on purpose: another order on every call


class RandomOrderSums(Mutable):
    """Correct math, every sum over the batch or a layer's inputs taken in a fresh random order."""

    def affine(self, i, a, w, b):
        order = _shuffle.permutation(a.shape[1])
        z = a[:, order] @ w[:, order].T
        return z if b is None else z + b

    def weight_gradient(self, i, delta, inputs):
        order = _shuffle.permutation(len(delta))
        return delta[order].T @ inputs[order]

    def bias_gradient(self, i, delta):
        return np.add.reduce(delta[_shuffle.permutation(len(delta))], axis=0)

    def passed_down(self, i, delta, w, grad_w):
        order = _shuffle.permutation(delta.shape[1])
        return delta[:, order] @ w[order]

    def loss_gradient(self, name, y, targets):
        order = _shuffle.permutation(len(y))
        loss, grad = loss_and_gradient(name, y[order], targets[order])
        undo = np.argsort(order)
        return loss, grad[undo]


class RandomOrder(MutantAdapter):
    name = "random_order_sums"
    network = RandomOrderSums


class WrongDerivativeRandomOrderSums(RandomOrderSums):
    """Sums in a random order, and takes tanh's derivative as 1 − z² at the pre-activation: at
    large pre-activations its gradients are far larger than a correct backward's."""

    def derivative(self, i, name, z, a):
        return activation_derivative(name, z, z)


class WrongDerivativeRandomOrder(MutantAdapter):
    name = "wrong_derivative_random_order"
    network = WrongDerivativeRandomOrderSums


class NoisyFromSecondCall(ReferenceNumpy):
    """Correct on its first backward; every later one adds noise of ``NOISE`` to the first weight gradient."""

    name = "noisy_from_second_call"
    NOISE = 1e-6
    calls = 0

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        type(self).calls += 1
        if type(self).calls % 2 == 0:
            noise = self.NOISE * np.abs(grads.weights[0]).max()
            grads = Gradients(grads.input, (grads.weights[0] + noise,) + grads.weights[1:], grads.biases)
        return grads


class LouderFromSecondCall(NoisyFromSecondCall):
    name = "louder_from_second_call"
    NOISE = 1e-4


class Dense:
    """A layer class in the common style: ``backward`` adds into ``self.dW`` and ``self.db``,
    and nothing ever zeroes them."""

    def __init__(self, w, b, activation):
        self.W, self.b, self.activation = w.copy(), None if b is None else b.copy(), activation
        self.dW, self.db = np.zeros_like(self.W), None if b is None else np.zeros_like(self.b)

    def forward(self, x):
        self.x = x
        z = x @ self.W.T if self.b is None else x @ self.W.T + self.b
        self.a = np.tanh(z) if self.activation == "tanh" else z
        return self.a

    def backward(self, grad):
        delta = grad * (1 - self.a ** 2) if self.activation == "tanh" else grad
        self.dW += delta.T @ self.x
        if self.b is not None:
            self.db += delta.sum(axis=0)
        return delta @ self.W


class AccumulatesGradients(ReferenceNumpy):
    """tanh/identity layers whose gradients are added to the stored ones, never zeroed."""

    name = "accumulates_gradients"

    def supports(self, spec, batch, dtype):
        if {layer.activation for layer in spec.layers} - {"tanh", "identity"} or spec.loss is not None:
            return "tanh and identity layers, upstream gradients only"
        return None

    def build(self, spec, params):
        self.layers = [Dense(w, b, layer.activation) for w, b, layer in zip(params.weights, params.biases, spec.layers)]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_output):
        grad = grad_output
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return Gradients(grad, tuple(layer.dW for layer in self.layers),
                         tuple(layer.db for layer in self.layers))


class StaleInputCache(Mutable):
    """Keeps the first forward's input to the first layer and differentiates with it ever after."""

    def forward(self, x):
        kept = getattr(self, "first_input", None)
        self.first_input = x.copy() if kept is None else kept
        out = super().forward(x)
        self.inputs[0] = self.first_input
        return out


class StaleCache(MutantAdapter):
    name = "stale_input_cache"
    network = StaleInputCache


class LaggingInputCache(Mutable):
    """Differentiates with the input of the forward before the last one (a cache updated one
    call late), from its second forward on."""

    def forward(self, x):
        earlier = getattr(self, "latest_input", x)
        self.latest_input = x.copy()
        out = super().forward(x)
        self.inputs[0] = earlier
        return out


class LaggingCache(MutantAdapter):
    name = "lagging_input_cache"
    network = LaggingInputCache


class Float32Loss(ReferenceNumpy):
    """Right gradients (float64), but its loss value computed and returned in float32."""

    name = "float32_loss"

    def loss(self, x, targets):
        y = self.forward(x)
        value, _ = loss_and_gradient(self.loss_name, y.astype(np.float32),
                                     targets.astype(targets.dtype.kind == "i" and targets.dtype or np.float32))
        _, grad_output = loss_and_gradient(self.loss_name, y, targets)
        return np.float32(value), self.backward(grad_output)


class Float32LossDoubledWeight(Float32Loss):
    """The same, with its first weight gradient doubled: wrong, and finite differences must say so."""

    name = "float32_loss_doubled_weight"

    def loss(self, x, targets):
        value, grads = super().loss(x, targets)
        return value, Gradients(grads.input, (2 * grads.weights[0],) + grads.weights[1:], grads.biases)


class PositionalOutput(ReferenceNumpy):
    """Adds to each output row a term that grows with the row's position in the batch (a
    per-sample vector broadcast along the batch axis)."""

    name = "positional_output"

    def forward(self, x):
        y = super().forward(x)
        return y + 0.01 * np.arange(len(y), dtype=y.dtype)[:, None]


class MemoisedOutput(ReferenceNumpy):
    """Returns its first forward's output ever after (gradients from the latest forward)."""

    name = "memoised_output"

    def forward(self, x):
        y = super().forward(x)
        self.__dict__.setdefault("first_output", y.copy())
        return self.first_output
