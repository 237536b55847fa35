"""A transformer block from scratch in NumPy, written from the README and docs alone in the
style of the "transformer from scratch" tutorials: one class per module whose forward caches
what backward needs and whose backward stores parameter gradients in ``.grads``; weights
stored (in, out), x @ W. Planted bugs: ``BUG = "softmax_axis"`` (attention's softmax backward
summed over the queries' axis), ``BUG = "residual"`` (the skip path's gradient not added: the
block's input gets the branch's gradient only); ``GELU_AS_TANH = True`` computes the tanh
approximation where the exact GELU is asked for (a convention, not a backward bug)."""

import math

import numpy as np

from conformance import Adapter, Capabilities, Gradients

BUG = None  # "softmax_axis" or "residual"
GELU_AS_TANH = False  # the tanh approximation where the exact GELU is asked for


class Linear:
    def __init__(self, W, b):
        self.W, self.b = W, b  # W (in, out)

    def forward(self, x):
        self.x = x
        y = x @ self.W
        return y if self.b is None else y + self.b

    def backward(self, dy):
        x2 = self.x.reshape(-1, self.x.shape[-1])
        dy2 = dy.reshape(-1, dy.shape[-1])
        self.grads = {"weight": (x2.T @ dy2).T}
        if self.b is not None:
            self.grads["bias"] = dy2.sum(axis=0)
        return dy @ self.W.T


class LayerNorm:
    def __init__(self, gamma, beta, eps=1e-5):
        self.g, self.b, self.eps = gamma, beta, eps

    def forward(self, x):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        self.rstd = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (x - mu) * self.rstd
        return self.xhat * self.g + self.b

    def backward(self, dy):
        axes = tuple(range(dy.ndim - 1))
        self.grads = {"weight": (dy * self.xhat).sum(axes), "bias": dy.sum(axes)}
        dxhat = dy * self.g
        n = dy.shape[-1]
        return self.rstd / n * (n * dxhat - dxhat.sum(-1, keepdims=True)
                                - self.xhat * (dxhat * self.xhat).sum(-1, keepdims=True))


class GELU:
    """The tanh approximation (GPT-2's)."""
    c = math.sqrt(2 / math.pi)

    def forward(self, x):
        self.x = x
        self.t = np.tanh(self.c * (x + 0.044715 * x**3))
        return 0.5 * x * (1 + self.t)

    def backward(self, dy):
        x, t = self.x, self.t
        dt = (1 - t**2) * self.c * (1 + 3 * 0.044715 * x**2)
        self.grads = {}
        return dy * (0.5 * (1 + t) + 0.5 * x * dt)


_erf = np.vectorize(math.erf)


class ExactGELU:
    """x * Phi(x)."""

    def forward(self, x):
        self.x = x
        self.cdf = 0.5 * (1 + _erf(x / math.sqrt(2))).astype(x.dtype)
        return x * self.cdf

    def backward(self, dy):
        pdf = np.exp(-0.5 * self.x**2) / math.sqrt(2 * math.pi)
        self.grads = {}
        return dy * (self.cdf + self.x * pdf)


class SelfAttention:
    """softmax(x x^T / sqrt(d)) x, queries = keys = values = x, no parameters."""

    def __init__(self, causal):
        self.causal = causal

    def forward(self, x):
        self.x = x
        d = x.shape[-1]
        s = x @ x.transpose(0, 2, 1) / math.sqrt(d)
        if self.causal:
            T = x.shape[1]
            s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
        s = s - s.max(-1, keepdims=True)
        e = np.exp(s)
        self.p = e / e.sum(-1, keepdims=True)
        return self.p @ x

    def backward(self, dy):
        x, p = self.x, self.p
        d = x.shape[-1]
        dp = dy @ x.transpose(0, 2, 1)
        dx = p.transpose(0, 2, 1) @ dy  # as values
        axis = -2 if BUG == "softmax_axis" else -1
        ds = p * (dp - (dp * p).sum(axis, keepdims=True))
        ds = ds / math.sqrt(d)
        dx = dx + ds @ x + ds.transpose(0, 2, 1) @ x  # as queries and as keys
        self.grads = {}
        return dx


class Flatten:
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        self.grads = {}
        return dy.reshape(self.shape)


class Residual:
    def __init__(self, inner):
        self.inner = inner

    def forward(self, x):
        y = x
        for m in self.inner:
            y = m.forward(y)
        return x + y

    def backward(self, dy):
        d = dy
        for m in reversed(self.inner):
            d = m.backward(d)
        self.grads = {}
        for i, m in enumerate(self.inner):
            for k, v in m.grads.items():
                self.grads[f"inner.{i}.{k}"] = v
        return d if BUG == "residual" else d + dy


def make(layer, params, prefix):
    kind = layer.kind
    if kind == "dense":
        return Linear(params[prefix + "weight"].T, params.get(prefix + "bias"))
    if kind == "layernorm":
        return LayerNorm(params[prefix + "weight"], params[prefix + "bias"])
    if kind == "gelu_tanh" or (kind == "gelu" and GELU_AS_TANH):
        return GELU()
    if kind == "gelu":
        return ExactGELU()
    if kind == "attention":
        return SelfAttention(layer.causal)
    if kind == "flatten":
        return Flatten()
    if kind == "residual":
        return Residual([make(inner, params, f"{prefix}inner.{j}.") for j, inner in enumerate(layer.inner)])
    raise ValueError(kind)


class TransformerAdapter(Adapter):
    name = "numpy_transformer"
    capabilities = Capabilities(
        layers={"dense", "layernorm", "gelu", "gelu_tanh", "attention", "residual", "flatten"},
        mlp=False, losses={"softmax_cross_entropy", "mse"})

    def build(self, spec, params):
        self.modules = [make(layer, params, f"{i}.") for i, layer in enumerate(spec.layers)]

    def forward(self, x):
        for m in self.modules:
            x = m.forward(x)
        return x

    def backward(self, grad_output):
        d = grad_output
        named = {}
        for i in reversed(range(len(self.modules))):
            d = self.modules[i].backward(d)
            named.update({f"{i}.{k}": v for k, v in self.modules[i].grads.items()})
        return Gradients(d, named=named)

    def loss(self, x, targets):
        z = self.forward(x)
        n = z.shape[0]
        if targets.ndim == 1:
            s = z - z.max(axis=1, keepdims=True)
            p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
            value = -np.log(p[np.arange(n), targets]).mean()
            dz = p.copy()
            dz[np.arange(n), targets] -= 1
            return value, self.backward(dz / n)
        err = z - targets
        return (err**2).mean(), self.backward(2 * err / err.size)
