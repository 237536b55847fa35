"""Seed 004, ported faithfully: a small network "library" that caches each layer's input
during the forward pass (``NeuralNetwork``, ``FullyConnectedLayer``, ``Sigmoid``,
``MeanSquaredError``), and its adapter.

Conventions of the seed: weight ``(in, out)``, bias ``(1, out)``, sigmoid on the
hidden layers and no activation on the output, ``backward(x, grad)`` returning
``(grad_x, W_grads, b_grads)``, and the loss ``mean(0.5 * (y_true - y_pred)**2)``.
Its defects are kept: a layer's bias gradient is the upstream gradient itself,
one row per sample, not its sum over the batch; and the loss's backward is
``y_pred - y_true``, without the mean's ``1 / (batch * outputs)``.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

from conformance.contract.adapter import Adapter, Capabilities, Gradients
from conformance.running.guard import preserved_global_generator
from conformance.cases.spec import NetworkSpec, Params


class Sigmoid:
    def __init__(self):
        pass

    def non_rounded_sigmoid(self,x : np.array) -> np.array:
        return 1 / (1 + np.exp(-x))


    def forward(self, x: np.array) -> np.array:
        return 1 / (1 + np.exp(-x))

    def backward(self, x: np.array, grad: np.array = np.array([[1]])) -> np.array:
        return grad * (self.forward(x) * (1 - self.forward(x)))

class MeanSquaredError:
    def __init__(self):
        pass

    def forward(self, y_pred: np.array, y_true: np.array) -> float:
        return np.mean(0.5 * (y_true - y_pred) ** 2)

    def backward(self, y_pred: np.array, y_true: np.array, grad: np.array = np.array([[1]])) -> np.array:
        return  grad * (y_pred - y_true)

class FullyConnectedLayer:
    def __init__(self, input_size: int, output_size: int):
        self.input_size = input_size
        self.output_size = output_size

        self.weights = np.random.randn(self.input_size, self.output_size)
        self.bias = np.zeros((1, self.output_size))

    def forward(self, x: np.array) -> np.array:
        return np.matmul(x, self.weights) + self.bias

    def backward(self, x: np.array, grad: np.array = np.array([[1]])) -> Tuple[np.array,np.array,np.array]:
        x_grad = np.matmul(grad, self.weights.T)
        W_grad = np.matmul(x.T, grad)
        b_grad = grad

        return x_grad, W_grad, b_grad

class NeuralNetwork:
    def __init__(self,
                 input_size: int,
                 output_size: int,
                 hidden_sizes: List[int],
                 activation=Sigmoid):
        self.activ_inputs = None
        self.layer_inputs = None
        s = [input_size] + hidden_sizes + [output_size]
        self.layers = [FullyConnectedLayer(s[i], s[i+1]) for i in range(len(s) - 1)]
        self.activation = activation()

    def forward(self, x: np.array) -> np.array:
        # we need to edit this function to cache our inputs and outputs for each layer during the forward passe!
        self.layer_inputs = []
        self.activ_inputs = []

        for layer in self.layers[:-1]:
            self.layer_inputs.append(x)
            x = layer.forward(x)
            self.activ_inputs.append(x)
            x = self.activation.forward(x)

        #The last layer should not be using an activation function
        self.layer_inputs.append(x)
        x = self.layers[-1].forward(x)
        return x

    def backward(self, x: np.array, grad: np.array = np.array([[1]])) -> Tuple[np.array]:
        W_grads = []
        b_grads = []

        # Backward pass for the last layer
        grad, W_grad, b_grad = self.layers[-1].backward(self.layer_inputs[-1], grad)
        W_grads.append(W_grad)
        b_grads.append(b_grad)

        # Backward pass for the remaining layers
        for i in reversed(range(len(self.activ_inputs))):
            grad = self.activation.backward(self.activ_inputs[i], grad)
            grad, W_grad, b_grad = self.layers[i].backward(self.layer_inputs[i], grad)
            W_grads.append(W_grad)
            b_grads.append(b_grad)

        return grad, list(reversed(W_grads)), list(reversed(b_grads))


def bias_to_canonical(b_grad: np.ndarray) -> np.ndarray:
    """The documented ``(1, out)`` becomes ``(out,)``; any other shape (the seed's
    ``(batch, out)`` for a batch of several) is handed over as it is, for the suite to judge."""
    return b_grad.reshape(-1) if b_grad.shape[0] == 1 else b_grad


class CachedInput(Adapter):
    """Weights go to the seed transposed, ``(in, out)``, biases as ``(1, out)``; the
    network is built with the seed's own constructor and its parameters set
    afterwards, as the notebook does."""

    name = "cached_input"
    description = "seed 004: NeuralNetwork/FullyConnectedLayer caching inputs, sigmoid hidden, linear output, half MSE"
    capabilities = Capabilities(
        activations=frozenset({"sigmoid"}),
        output_activations=frozenset({"identity"}),
        bias=frozenset({True}),
        losses=frozenset({"half_mse"}),
        notes="sigmoid hidden layers, no output activation; every layer has a bias",
    )

    def build(self, spec: NetworkSpec, params: Params) -> None:
        sizes = spec.sizes
        with preserved_global_generator():  # the constructor draws initial weights from the global generator
            self.net = NeuralNetwork(sizes[0], sizes[-1], list(sizes[1:-1]), Sigmoid)
        for layer, w, b in zip(self.net.layers, params.weights, params.biases):
            layer.weights, layer.bias = w.T, b.reshape(1, -1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return self.net.forward(x)

    def backward(self, grad_output: np.ndarray) -> Gradients:
        grad_x, W_grads, b_grads = self.net.backward(self.x, grad_output)
        return Gradients(grad_x, tuple(g.T for g in W_grads), tuple(bias_to_canonical(g) for g in b_grads))

    def loss(self, x: np.ndarray, targets: np.ndarray) -> tuple[float, Gradients]:
        loss_function = MeanSquaredError()
        pred = self.forward(x)
        loss = loss_function.forward(pred, targets)
        return loss, self.backward(loss_function.backward(pred, targets))
