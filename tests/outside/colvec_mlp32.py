"""Written from the README and docs/adapter.md alone: an MLP in column-vector style (x is
(features, batch), W (n_out, n_in), b (n_out, 1)), as in Andrew Ng's course notes, in a class
that casts everything it is given to float32 (it declares float32 only). Its own cost is the
mean over the batch of the half squared error summed over the outputs, 1/2m Σ‖a − y‖², declared
as a convention of half_mse."""

import numpy as np

from conformance import Adapter, Capabilities, Conventions, Gradients


def g(name, Z):
    if name == "relu":
        return np.maximum(0, Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-Z))
    return Z


def g_prime(name, A, Z):
    if name == "relu":
        return (Z > 0).astype(np.float32)
    if name == "tanh":
        return 1 - A**2
    if name == "sigmoid":
        return A * (1 - A)
    return np.ones_like(Z)


class ColumnMLP32:
    def __init__(self, Ws, bs, acts):
        self.parameters = {}
        for k, (W, b) in enumerate(zip(Ws, bs), start=1):
            self.parameters[f"W{k}"] = np.asarray(W, np.float32)
            self.parameters[f"b{k}"] = None if b is None else np.asarray(b, np.float32).reshape(-1, 1)
        self.acts, self.L = acts, len(Ws)

    def forward(self, X):
        A = np.asarray(X, np.float32)
        self.cache = {"A0": A}
        for k in range(1, self.L + 1):
            W, b = self.parameters[f"W{k}"], self.parameters[f"b{k}"]
            Z = W @ A if b is None else W @ A + b
            A = g(self.acts[k - 1], Z)
            self.cache[f"Z{k}"], self.cache[f"A{k}"] = Z, A
        return A

    def backward(self, dAL):
        grads = {}
        dA = np.asarray(dAL, np.float32)
        for k in reversed(range(1, self.L + 1)):
            dZ = dA * g_prime(self.acts[k - 1], self.cache[f"A{k}"], self.cache[f"Z{k}"])
            grads[f"dW{k}"] = dZ @ self.cache[f"A{k-1}"].T
            grads[f"db{k}"] = dZ.sum(axis=1, keepdims=True)
            dA = self.parameters[f"W{k}"].T @ dZ
        grads["dA0"] = dA
        return grads

    def cost(self, X, Y):
        AL = self.forward(X)
        m = X.shape[1]
        return np.sum((AL - Y) ** 2) / (2 * m), self.backward((AL - Y) / m)


class ColumnMLP32Adapter(Adapter):
    name = "colvec_mlp32"
    capabilities = Capabilities(
        dtypes={"float32"}, losses={"half_mse"},
        conventions=Conventions(loss_reductions={"half_mse": ("sum", "mean")}))

    def build(self, spec, params):
        self.net = ColumnMLP32(params.weights, params.biases, [layer.activation for layer in spec.layers])
        self.has_bias = [b is not None for b in params.biases]

    def forward(self, x):
        return self.net.forward(x.T).T

    def backward(self, grad_output):
        return self.gradients(self.net.backward(grad_output.T))

    def loss(self, x, targets):
        value, grads = self.net.cost(x.T, targets.T)
        return value, self.gradients(grads)

    def gradients(self, grads):
        L = self.net.L
        return Gradients(
            grads["dA0"].T,
            tuple(grads[f"dW{k}"] for k in range(1, L + 1)),
            tuple(grads[f"db{k}"].ravel() if self.has_bias[k - 1] else None for k in range(1, L + 1)))
