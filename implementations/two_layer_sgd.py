"""Seed 002, ported faithfully: one SGD step of a two-layer network without bias
(``backprop(x, y, Wh, Wo, lr)``), and its adapter.

Conventions of the seed: ``x @ Wh`` then ``@ Wo``, so weights are
``(n_in, n_out)``; no bias; the cost is half the sum of squares; ``backprop``
updates ``Wh`` and ``Wo`` in place and returns nothing. Its forward pass
applies ``relu_prime`` (the derivative of ReLU, a step) where a ReLU network
applies ReLU; that defect is kept.

The adapter recovers the gradients from the update, ``(W_before - W_after) / lr``,
on copies of its own, so the caller's arrays are never touched.
"""

from __future__ import annotations

import numpy as np

from conformance.contract.adapter import Adapter, Capabilities, Gradients
from conformance.cases.spec import NetworkSpec, Params


def relu_prime(Z):
    return np.where(Z > 0, 1, 0)

def cost(yHat, y):
    return 0.5 * np.sum((yHat - y)**2)

def cost_prime(yHat, y):
    return yHat - y

def backprop(x, y, Wh, Wo, lr):
    # Forward propagation
    Zh = np.dot(x, Wh)
    H = relu_prime(Zh)

    Zo = np.dot(H, Wo)
    yHat = relu_prime(Zo)

    # Layer Error
    Eo = cost_prime(yHat, y) * relu_prime(Zo)
    Eh = np.dot(Eo, Wo.T) * relu_prime(Zh)

    # Cost derivative for weights
    dWo = np.dot(H.T, Eo)
    dWh = np.dot(x.T, Eh)

    # Update weights
    Wh -= lr * dWh
    Wo -= lr * dWo


def forward(x, Wh, Wo):
    """The first lines of ``backprop``: the prediction it computes, from the seed's own functions."""
    Zh = np.dot(x, Wh)
    H = relu_prime(Zh)

    Zo = np.dot(H, Wo)
    yHat = relu_prime(Zo)
    return yHat


#: A power of two, so ``lr * dW`` is exact and dividing by it is too; large, so
#: ``W - lr * dW`` is dominated by the step and ``W_before - W_after`` keeps
#: dW to a few ulps of itself. (With lr = 1 the recovered gradient would carry
#: rounding of the order of ulp(W), which swamps a gradient much smaller than W.)
LEARNING_RATE = 2.0 ** 16


def gradients_from_update(x, y, Wh, Wo):
    """``dWh, dWo`` as ``backprop`` applies them, recovered from one step on copies."""
    Wh_after, Wo_after = Wh.copy(), Wo.copy()
    backprop(x, y, Wh_after, Wo_after, LEARNING_RATE)
    return (Wh - Wh_after) / LEARNING_RATE, (Wo - Wo_after) / LEARNING_RATE


class TwoLayerSgd(Adapter):
    """Weights are handed to the seed transposed, ``(n_in, n_out)``.

    ``backprop`` only knows its own cost, whose derivative is ``yHat - y``. A
    backward from an arbitrary upstream gradient ``g`` therefore runs it with
    targets ``y = yHat - g``, which makes its cost derivative exactly ``g``
    (up to the rounding of the subtraction).
    """

    name = "two_layer_sgd"
    description = ("seed 002: backprop(x, y, Wh, Wo, lr), two layers, no bias, in-place SGD step; "
                   "gradients from the update")
    capabilities = Capabilities(
        activations=frozenset({"relu"}),
        output_activations=frozenset({"relu"}),
        bias=frozenset({False}),
        losses=frozenset({"half_sse"}),
        min_depth=2,
        max_depth=2,
        input_gradient=False,
        notes="ReLU intended on both layers; updates weights in place; no input gradient",
    )

    def build(self, spec: NetworkSpec, params: Params) -> None:
        self.Wh, self.Wo = (w.T.copy() for w in params.weights)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        self.yHat = forward(x, self.Wh, self.Wo)
        return self.yHat

    def backward(self, grad_output: np.ndarray) -> Gradients:
        return self._gradients(self.x, self.yHat - grad_output)

    def loss(self, x: np.ndarray, targets: np.ndarray) -> tuple[float, Gradients]:
        loss = cost(self.forward(x), targets)
        return loss, self._gradients(x, targets)

    def _gradients(self, x: np.ndarray, y: np.ndarray) -> Gradients:
        dWh, dWo = gradients_from_update(x, y, self.Wh, self.Wo)
        return Gradients(None, (dWh.T, dWo.T), (None, None))
