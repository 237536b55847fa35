"""Hand-written cores in styles unlike the suite's, each correct and with a classic
numerical-stability bug, and their adapters written from the README alone.

* ``ColumnMLP``: column vectors (a batch is ``(n_in, batch)``), its own softmax
  cross-entropy; the bug: softmax without subtracting the max.
* CS231n-style functions with caches (``affine_forward`` with ``w`` of shape ``(D, M)``,
  ``relu_forward``, ``softmax_loss``); the bug: an unclipped ``log(p)``.
* An einsum network with ``(n_in, n_out)`` weights and its own binary cross-entropy of
  logits; the bug: ``−t·log σ(z) − (1 − t)·log(1 − σ(z))``.
* A float32-only class of activations as layers (softmax, log-softmax, tanh); the bugs:
  ``exp(z)/Σexp(z)``, ``log(exp(z)/Σexp(z))`` and tanh through exponentials.

Each buggy core agrees with PyTorch on order-one values; only large ones tell.
"""

from __future__ import annotations

import numpy as np

from conformance import Adapter, Capabilities, Gradients

# ---- column vectors, own softmax cross-entropy ----------------------------------------------------


def _softmax_columns(z, stable):
    e = np.exp(z - z.max(axis=0, keepdims=True)) if stable else np.exp(z)
    return e / e.sum(axis=0, keepdims=True)


class ColumnMLP:
    """tanh hidden layers, a linear output, on column vectors: ``a = W @ x + b``."""

    stable = True

    def __init__(self, Ws, bs):
        self.Ws, self.bs = Ws, bs

    def forward(self, X):
        self.As = [X]
        for i, (W, b) in enumerate(zip(self.Ws, self.bs)):
            Z = W @ self.As[-1] + b
            self.As.append(Z if i == len(self.Ws) - 1 else np.tanh(Z))
        return self.As[-1]

    def backward(self, dOut):
        dWs, dbs, dA = [], [], dOut
        for i in reversed(range(len(self.Ws))):
            dZ = dA if i == len(self.Ws) - 1 else dA * (1 - self.As[i + 1] ** 2)
            dWs.insert(0, dZ @ self.As[i].T)
            dbs.insert(0, dZ.sum(axis=1, keepdims=True))
            dA = self.Ws[i].T @ dZ
        return dA, dWs, dbs

    def cross_entropy(self, X, labels):
        Z = self.forward(X)
        m = Z.shape[1]
        if self.stable:
            shifted = Z - Z.max(axis=0, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
            P = np.exp(logp)
        else:
            P = _softmax_columns(Z, stable=False)
            logp = np.log(P)
        loss = -logp[labels, np.arange(m)].mean()
        dZ = P.copy()
        dZ[labels, np.arange(m)] -= 1
        return loss, self.backward(dZ / m)


class NaiveSoftmaxColumnMLP(ColumnMLP):
    stable = False


class ColumnAdapter(Adapter):
    name = "column_mlp"
    network = ColumnMLP
    capabilities = Capabilities(activations={"tanh"}, output_activations={"identity"}, bias={True},
                                losses={"softmax_cross_entropy"})

    def build(self, spec, params):
        self.net = self.network([w.copy() for w in params.weights], [b.reshape(-1, 1) for b in params.biases])

    def forward(self, x):
        return self.net.forward(x.T).T

    def backward(self, grad_output):
        return self._gradients(self.net.backward(grad_output.T))

    def loss(self, x, targets):
        value, grads = self.net.cross_entropy(x.T, targets)
        return value, self._gradients(grads)

    @staticmethod
    def _gradients(grads):
        dx, dWs, dbs = grads
        return Gradients(dx.T, tuple(dWs), tuple(db.reshape(-1) for db in dbs))


class NaiveSoftmaxColumnAdapter(ColumnAdapter):
    name = "column_mlp_naive_softmax"
    network = NaiveSoftmaxColumnMLP


# ---- CS231n-style functions with caches -----------------------------------------------------------


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    probs = np.exp(log_probs)
    n = x.shape[0]
    loss = -log_probs[np.arange(n), y].mean()
    dx = probs.copy()
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def softmax_loss_unclipped(x, y):
    """Probabilities first (stable), then an unclipped log: −log(0) = ∞ when one underflows."""
    probs = np.exp(x - x.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(probs[np.arange(n), y]).mean()
    dx = probs.copy()
    dx[np.arange(n), y] -= 1
    return loss, dx / n


class FunctionsAdapter(Adapter):
    name = "cs231n_functions"
    loss_fn = staticmethod(softmax_loss)
    capabilities = Capabilities(activations={"relu"}, output_activations={"identity"}, bias={True},
                                losses={"softmax_cross_entropy"})

    def build(self, spec, params):
        self.params = [(w.T.copy(), b.copy()) for w, b in zip(params.weights, params.biases)]

    def forward(self, x):
        self.caches = []
        for i, (w, b) in enumerate(self.params):
            x, cache = affine_forward(x, w, b)
            relu_cache = None
            if i < len(self.params) - 1:
                x, relu_cache = relu_forward(x)
            self.caches.append((cache, relu_cache))
        return x

    def backward(self, grad_output):
        dws, dbs, d = [], [], grad_output
        for cache, relu_cache in reversed(self.caches):
            if relu_cache is not None:
                d = relu_backward(d, relu_cache)
            d, dw, db = affine_backward(d, cache)
            dws.insert(0, dw.T)
            dbs.insert(0, db)
        return Gradients(d, tuple(dws), tuple(dbs))

    def loss(self, x, targets):
        value, dscores = self.loss_fn(self.forward(x), targets)
        return value, self.backward(dscores)


class UnclippedLogFunctionsAdapter(FunctionsAdapter):
    name = "cs231n_unclipped_log"
    loss_fn = staticmethod(softmax_loss_unclipped)


# ---- einsum, (n_in, n_out) weights, own binary cross-entropy ------------------------------------


class EinsumBCE:
    """dense → relu → dense, weights (n_in, n_out), and a binary cross-entropy of logits."""

    stable = True

    def __init__(self, W1, b1, W2, b2):
        self.W1, self.b1, self.W2, self.b2 = W1, b1, W2, b2

    def forward(self, x):
        self.x = x
        self.h = np.einsum("bi,io->bo", x, self.W1) + self.b1
        self.a = np.maximum(self.h, 0)
        return np.einsum("bi,io->bo", self.a, self.W2) + self.b2

    def backward(self, g):
        dW2, db2 = np.einsum("bi,bo->io", self.a, g), g.sum(0)
        dh = np.einsum("bo,io->bi", g, self.W2) * (self.h > 0)
        return np.einsum("bi,io->bo", dh, self.W1.T), np.einsum("bi,bo->io", self.x, dh), dh.sum(0), dW2, db2

    def bce(self, x, t):
        z = self.forward(x)
        s = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))
        if self.stable:
            loss = np.mean(np.maximum(z, 0) - t * z + np.log1p(np.exp(-np.abs(z))))
        else:
            loss = np.mean(-t * np.log(s) - (1 - t) * np.log(1 - s))
        return loss, self.backward((s - t) / z.size)


class NaiveEinsumBCE(EinsumBCE):
    stable = False


class EinsumAdapter(Adapter):
    name = "einsum_bce"
    network = EinsumBCE
    capabilities = Capabilities(layers={"dense", "relu"}, losses={"binary_cross_entropy"}, mlp=False, vjp=False)

    def supports(self, spec, batch, dtype):
        if reason := super().supports(spec, batch, dtype):
            return reason
        kinds = [layer.kind for layer in spec.layers]
        return None if kinds == ["dense", "relu", "dense"] else "dense → relu → dense only"

    def build(self, spec, params):
        self.net = self.network(params["0.weight"].T, params["0.bias"], params["2.weight"].T, params["2.bias"])

    def forward(self, x):
        return self.net.forward(x)

    def loss(self, x, targets):
        value, (dx, dW1, db1, dW2, db2) = self.net.bce(x, targets)
        return value, Gradients(dx, named={"0.weight": dW1.T, "0.bias": db1, "2.weight": dW2.T, "2.bias": db2})


class NaiveEinsumAdapter(EinsumAdapter):
    name = "einsum_naive_bce"
    network = NaiveEinsumBCE


# ---- float32-only activations as layers ----------------------------------------------------------


class Float32Activations:
    """One activation layer, computed in float32 whatever it is given."""

    stable = True

    def __init__(self, kind):
        self.kind = kind

    def forward(self, z):
        z = z.astype(np.float32)
        if self.kind == "tanh":
            self.y = np.tanh(z) if self.stable else (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True)) if self.stable else np.exp(z)
            s = e / e.sum(axis=1, keepdims=True)
            if self.kind == "softmax":
                self.y = s
            elif self.stable:
                shifted = z - z.max(axis=1, keepdims=True)
                self.y = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            else:
                self.y = np.log(s)
            self.s = s if self.stable else np.exp(self.y)
        return self.y

    def backward(self, g):
        g = g.astype(np.float32)
        if self.kind == "tanh":
            return g * (1 - self.y ** 2)
        if self.kind == "softmax":
            return self.y * (g - (g * self.y).sum(axis=1, keepdims=True))
        return g - self.s * g.sum(axis=1, keepdims=True)


class NaiveFloat32Activations(Float32Activations):
    stable = False


class Float32Adapter(Adapter):
    name = "float32_activations"
    network = Float32Activations
    capabilities = Capabilities(layers={"softmax", "log_softmax", "tanh"}, mlp=False, dtypes={"float32"})

    def supports(self, spec, batch, dtype):
        return super().supports(spec, batch, dtype) or (None if len(spec.layers) == 1 else "one layer only")

    def build(self, spec, params):
        self.layer = self.network(spec.layers[0].kind)

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, grad_output):
        return Gradients(self.layer.backward(grad_output), named={})


class NaiveFloat32Adapter(Float32Adapter):
    name = "float32_naive_activations"
    network = NaiveFloat32Activations


#: (correct adapter, its buggy twin, the finding kinds the twin's failures may be named by).
PAIRS = (
    # It takes log(P) of its naive softmax: where exp does not overflow, the data shows the log.
    (ColumnAdapter, NaiveSoftmaxColumnAdapter, {"cross_entropy_naive_softmax", "cross_entropy_unclipped_log"}),
    (FunctionsAdapter, UnclippedLogFunctionsAdapter, {"cross_entropy_unclipped_log"}),
    (EinsumAdapter, NaiveEinsumAdapter, {"bce_naive", "bce_naive_sigmoid"}),
    (Float32Adapter, NaiveFloat32Adapter, {"softmax_without_max", "log_softmax_naive", "tanh_through_exponentials"}),
)
