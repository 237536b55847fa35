"""Seed 003, ported faithfully: the delta recursion of backpropagation without bias
(``forward_pass``, ``backward_pass``), and its adapter.

Conventions of the seed: one sample at a time as a column vector; ``W[l]`` is
``(n_in, n_out)`` and a layer computes ``W[l].T @ a``; no bias; the same
activation on every layer, output included (only sigmoid and ReLU are
implemented); the backward starts from the loss ``sum((y_hat - y)**2)``
(``2 * (y_hat - y)``) and uses ``np.outer``, so one sample only. It computes
no gradient for the input. The lecture notebook's comments are kept.
"""

from __future__ import annotations

import numpy as np

from conformance.contract.adapter import Adapter, Capabilities, Gradients
from conformance.cases.spec import NetworkSpec, Params


# Helper function for nonlinear activations and their derivatives
# Only sigmoid and Relu are implemented; but can be extended to other activations
# Activation functions and their derivatives
def sigmoid(x):
    return 1 / (1 + np.exp(-x))

def sigmoid_derivative(x):
    # Calculate the sigmoid output
    sig = sigmoid(x)
    # Use the output to calculate the derivative
    return sig * (1 - sig)

def relu(x):
    return np.maximum(0, x)

def relu_derivative(x):
    return (x > 0).astype(float)


# Forward pass without bias
def forward_pass(W, x, activation_func):
    activations = [x]
    linear_values = []
    for l in range(len(W)):
        f = np.dot(W[l].T, activations[-1])
        g = activation_func(f)
        linear_values.append(f)
        activations.append(g)
        #print(f"Layer {l+1}: f (linear) = {f.ravel()}, a (activation) = {g.ravel()}")
    return activations, linear_values


# Backward pass without bias
def backward_pass(W, activations, linear_values, y_true, activation_derivative):
    #L: number of layers
    L = len(W)
    # initialize deltas with zeros;
    # one vector for each layer and (L+1) vectors are created to make the implementation consistent with formula
    deltas = [None] * (L + 1)
    #final activation layer is output
    y_hat = activations[-1]

    # Delta for the output layer
    deltas[L] = 2 * (y_hat - y_true) * activation_derivative(linear_values[-1])

    gradients_W = [None] * L

    for l in range(L - 1, -1, -1):
        if l > 0:
            #dg(f)/df -> diagonal elements of this matrix
            g_derivative = activation_derivative(linear_values[l])
            #Recursion for delta values
            # The operator * indicates Hadamard product
            deltas[l] = g_derivative * np.dot(W[l], deltas[l + 1])


        grad_W = np.outer(activations[l], deltas[l + 1])
        gradients_W[l] = grad_W

    return gradients_W


ACTIVATIONS = {"relu": (relu, relu_derivative), "sigmoid": (sigmoid, sigmoid_derivative)}


class DeltaRecursion(Adapter):
    """Weights go to the seed transposed, the one input row as a column vector.

    ``backward_pass`` starts from its own loss, whose derivative is
    ``2 * (y_hat - y)``; a backward from an upstream gradient ``g`` runs it with
    targets ``y = y_hat - g / 2``. The seed has no function for the loss value,
    so the adapter computes the ``sum((y_hat - y)**2)`` its backward differentiates.
    """

    name = "delta_recursion"
    description = "seed 003: delta recursion, column vectors, W[l] (n_in, n_out), no bias, one activation everywhere"
    capabilities = Capabilities(
        activations=frozenset(ACTIVATIONS),
        output_activations=frozenset(ACTIVATIONS),
        same_activation_everywhere=True,
        bias=frozenset({False}),
        losses=frozenset({"sse"}),
        max_batch=1,
        input_gradient=False,
        notes="sigmoid and ReLU only, on every layer; one sample at a time; no input gradient",
    )

    def build(self, spec: NetworkSpec, params: Params) -> None:
        self.W = [w.T for w in params.weights]
        self.activation, self.activation_derivative = ACTIVATIONS[spec.output_activation]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.activations, self.linear_values = forward_pass(self.W, x.T, self.activation)
        return self.activations[-1].T

    def backward(self, grad_output: np.ndarray) -> Gradients:
        return self._gradients(self.activations[-1] - grad_output.T / 2)

    def loss(self, x: np.ndarray, targets: np.ndarray) -> tuple[float, Gradients]:
        y_hat = self.forward(x)
        return np.sum((y_hat - targets) ** 2), self._gradients(targets.T)

    def _gradients(self, y_true: np.ndarray) -> Gradients:
        gradients_W = backward_pass(self.W, self.activations, self.linear_values, y_true, self.activation_derivative)
        return Gradients(None, tuple(g.T for g in gradients_W), tuple(None for _ in gradients_W))
