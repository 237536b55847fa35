"""Example plug-in: a small hand-written NumPy MLP, and the adapter that lets the
conformance suite check it.

    conformance new --example numpy_mlp my_mlp.py && conformance check my_mlp.py

(or, in a checkout of the suite, `conformance check examples/numpy_mlp.py`).

The network is written the way a course exercise often is: weights stored as
(n_in, n_out), biases as (1, n_out) (or None), an activation per layer, and its
own mean-squared-error loss. The adapter below translates between that layout
and the suite's (PyTorch's) one.
"""

import numpy as np

from conformance import Adapter, Capabilities, Gradients

# ---- the implementation under test ------------------------------------------

def sigmoid(z):
    """1 / (1 + e^-z) without overflow: e^-|z| never exceeds 1."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


ACTIVATIONS = {  # name: (function, derivative from the pre-activation z)
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z))),
}


class MLP:
    def __init__(self, weights, biases, activations):
        self.W, self.b, self.act = weights, biases, activations

    def forward(self, x):
        self.inputs, self.z = [], []
        for W, b, name in zip(self.W, self.b, self.act):
            self.inputs.append(x)
            self.z.append(x @ W if b is None else x @ W + b)
            x = ACTIVATIONS[name][0](self.z[-1])
        return x

    def backward(self, dy):
        dW, db = [], []
        for W, b, x, z, name in reversed(list(zip(self.W, self.b, self.inputs, self.z, self.act))):
            dz = dy * ACTIVATIONS[name][1](z)
            dW.insert(0, x.T @ dz)
            db.insert(0, None if b is None else dz.sum(axis=0, keepdims=True))
            dy = dz @ W.T
        return dy, dW, db

    def mse(self, x, y):
        """Mean over every element of (output - y)², and its gradient, backpropagated."""
        error = self.forward(x) - y
        return np.mean(error**2), self.backward(2 * error / error.size)


# ---- the adapter: the suite's layout in, the suite's layout out --------------


class NumpyMLPAdapter(Adapter):
    name = "numpy_mlp"
    description = "example: hand-written NumPy MLP, weights (n_in, n_out), bias (1, n_out), own MSE"
    capabilities = Capabilities(losses={"mse"})  # every activation, bias on or off; its own loss is MSE

    def build(self, spec, params):
        weights = [w.T for w in params.weights]  # (n_out, n_in) -> (n_in, n_out)
        biases = [None if b is None else b.reshape(1, -1) for b in params.biases]  # (n_out,) -> (1, n_out)
        self.net = MLP(weights, biases, [layer.activation for layer in spec.layers])

    def forward(self, x):
        return self.net.forward(x)

    def backward(self, grad_output):
        return self.gradients(self.net.backward(grad_output))

    def loss(self, x, targets):
        value, grads = self.net.mse(x, targets)
        return value, self.gradients(grads)

    @staticmethod
    def gradients(grads):
        dx, dW, db = grads
        return Gradients(dx, tuple(w.T for w in dW), tuple(None if b is None else b.reshape(-1) for b in db))
