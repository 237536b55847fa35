"""The project's own NumPy layers for layer-sequence networks: the model to copy, clear before fast.

Every layer is a small class with ``forward(x)``, which keeps what its backward needs,
and ``backward(grad)``, which returns the gradient for its input and sets ``grads``, its
parameters' gradients by short name (``weight``, ``bias``). ``Sequential`` chains them
and names the parameters as the suite does (``"0.weight"``). Convolution and pooling loop
over the kernel's offsets, each offset one strided view of the (padded) input: the sum over
a window written out once, not four nested loops or an im2col. Residual, attention:
reference_graph; recurrent kinds: reference_recurrent; embedding: reference_embedding.

Longer than 300 lines: one short class per layer kind and the function that makes each.
"""

from __future__ import annotations

import math

import numpy as np

from conformance.cases.layers import (ELU_ALPHA, LEAKY_SLOPE, NORM_EPS, Activation, AvgPool2d, BatchNorm,
                                      Conv2d, Dense, Dropout, Flatten, LayerNorm, MaxPool2d, NamedParams,
                                      SequenceSpec)
from conformance.cases.embedding import Embedding
from conformance.cases.recurrent import Recurrent
from conformance.implementations.reference_embedding import EmbeddingLayer
from conformance.implementations.reference_graph import make_graph_layer
from conformance.implementations.reference_recurrent import RecurrentLayer


class DenseLayer:
    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias

    def forward(self, x):
        self.x = x
        return x @ self.weight.T if self.bias is None else x @ self.weight.T + self.bias

    def backward(self, grad):  # over the batch and any axes before the last
        g, x = grad.reshape(-1, grad.shape[-1]), self.x.reshape(-1, self.x.shape[-1])
        self.grads = {"weight": g.T @ x} | ({} if self.bias is None else {"bias": g.sum(axis=0)})
        return grad @ self.weight


def _sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))  # without overflow for large |z|


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_GELU_C = math.sqrt(2 / math.pi)


def _normal_cdf(z):
    """Φ(z) elementwise, in z's dtype (``math.erf`` per element: NumPy has no erf)."""
    return (0.5 * (1 + np.vectorize(math.erf, otypes=[np.float64])(z / math.sqrt(2)))).astype(z.dtype)


class ActivationLayer:
    """An activation; its backward multiplies by the derivative (softmax's: the Jacobian product)."""

    def __init__(self, name):
        self.name = name

    def forward(self, z):
        self.z = z
        name = self.name
        if name == "identity":
            self.a = z
        elif name == "relu":
            self.a = np.maximum(z, 0)
        elif name == "leaky_relu":
            self.a = np.where(z > 0, z, LEAKY_SLOPE * z)
        elif name == "tanh":
            self.a = np.tanh(z)
        elif name == "sigmoid":
            self.a = _sigmoid(z)
        elif name == "softplus":
            self.a = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        elif name == "elu":
            self.a = np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0)))
        elif name == "softmax":
            self.a = _softmax(z)
        elif name == "log_softmax":
            shifted = z - z.max(axis=-1, keepdims=True)
            self.a = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        elif name == "gelu":
            self.a = z * _normal_cdf(z)
        elif name == "gelu_tanh":
            self.a = 0.5 * z * (1 + np.tanh(_GELU_C * (z + 0.044715 * z ** 3)))
        else:
            raise ValueError(f"unknown activation {name!r}")
        return self.a

    def backward(self, grad):
        self.grads = {}
        name, z, a = self.name, self.z, self.a
        if name == "softmax":  # J = diag(s) − s sᵀ
            return a * (grad - (grad * a).sum(axis=-1, keepdims=True))
        if name == "log_softmax":  # J = I − 1 softmaxᵀ
            return grad - np.exp(a) * grad.sum(axis=-1, keepdims=True)
        return grad * self.derivative(name, z, a)

    @staticmethod
    def derivative(name, z, a):
        if name == "identity":
            return np.ones_like(z)
        if name == "relu":
            return (z > 0).astype(z.dtype)
        if name == "leaky_relu":
            return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)
        if name == "tanh":
            return 1 - a * a
        if name == "sigmoid":
            return a * (1 - a)
        if name == "softplus":
            return _sigmoid(z)
        if name == "elu":
            return np.where(z > 0, 1.0, a + ELU_ALPHA).astype(z.dtype)
        if name == "gelu":  # Φ(z) + z·φ(z)
            return _normal_cdf(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        if name == "gelu_tanh":
            t = np.tanh(_GELU_C * (z + 0.044715 * z ** 3))
            return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * z * z)
        raise ValueError(f"unknown activation {name!r}")


class DropoutLayer:
    """Inverted dropout with a given keep-mask: ``x * mask / (1 - p)``."""

    def __init__(self, p, mask):
        self.scale, self.mask = 1 / (1 - p), mask

    def forward(self, x):
        return x * self.mask * self.scale

    def backward(self, grad):
        self.grads = {}
        return grad * self.mask * self.scale


class NormLayer:
    """Normalisation over ``axes`` (batch norm: the batch and space; layer norm: the last
    axis), then ``weight * x̂ + bias`` with parameters shaped to broadcast as ``shape``."""

    def __init__(self, weight, bias, axes, shape, param_axes):
        self.weight, self.bias = weight.reshape(shape), bias.reshape(shape)
        self.axes, self.param_axes = axes, param_axes

    def forward(self, x):
        mean = x.mean(axis=self.axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=self.axes, keepdims=True)
        self.inv_std = 1 / np.sqrt(var + NORM_EPS)
        self.xhat = (x - mean) * self.inv_std
        return self.weight * self.xhat + self.bias

    def backward(self, grad):
        self.grads = {"weight": (grad * self.xhat).sum(axis=self.param_axes),
                      "bias": grad.sum(axis=self.param_axes)}
        dxhat = grad * self.weight
        # Through x̂ = (x − mean)/std, mean and std both functions of x:
        # dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / std.
        return self.inv_std * (dxhat - dxhat.mean(axis=self.axes, keepdims=True)
                               - self.xhat * (dxhat * self.xhat).mean(axis=self.axes, keepdims=True))


def _offsets(kernel):
    return [(di, dj) for di in range(kernel) for dj in range(kernel)]


def _view(x, di, dj, stride, rows, cols):
    """The input elements that meet kernel offset (di, dj) in every window: (N, C, rows, cols)."""
    return x[:, :, di:di + stride * rows:stride, dj:dj + stride * cols:stride]


class ConvLayer:
    """Cross-correlation: ``out[n, o, i, j] = Σ_c,di,dj W[o, c, di, dj] · x[n, c, i·s + di, j·s + dj] + b[o]``."""

    def __init__(self, weight, bias, stride, padding):
        self.weight, self.bias, self.stride, self.padding = weight, bias, stride, padding

    def forward(self, x):
        p, s, kernel = self.padding, self.stride, self.weight.shape[2]
        self.xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        rows, cols = (self.xp.shape[2] - kernel) // s + 1, (self.xp.shape[3] - kernel) // s + 1
        out = np.zeros((x.shape[0], self.weight.shape[0], rows, cols), dtype=x.dtype)
        for di, dj in _offsets(kernel):
            out += np.einsum("nchw,oc->nohw", _view(self.xp, di, dj, s, rows, cols), self.weight[:, :, di, dj])
        return out if self.bias is None else out + self.bias[None, :, None, None]

    def backward(self, grad):
        p, s, kernel = self.padding, self.stride, self.weight.shape[2]
        rows, cols = grad.shape[2:]
        dw, dxp = np.zeros_like(self.weight), np.zeros_like(self.xp)
        for di, dj in _offsets(kernel):
            dw[:, :, di, dj] = np.einsum("nohw,nchw->oc", grad, _view(self.xp, di, dj, s, rows, cols))
            _view(dxp, di, dj, s, rows, cols)[...] += np.einsum("nohw,oc->nchw", grad, self.weight[:, :, di, dj])
        self.grads = {"weight": dw} | ({} if self.bias is None else {"bias": grad.sum(axis=(0, 2, 3))})
        return dxp[:, :, p:dxp.shape[2] - p, p:dxp.shape[3] - p]


class PoolLayer:
    """Max or average pooling of the input padded with −∞ (max) or zeros (average: k² divides
    every window); the max routes each window's gradient to its (first) maximum."""

    def __init__(self, kernel, stride, kind, padding=0):
        self.kernel, self.stride, self.kind, self.padding = kernel, stride, kind, padding

    def forward(self, x):
        k, s, p = self.kernel, self.stride, self.padding
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf if self.kind == "maxpool2d" else 0)
        self.shape = x.shape
        self.rows, self.cols = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
        views = np.stack([_view(x, di, dj, s, self.rows, self.cols) for di, dj in _offsets(k)])
        if self.kind == "avgpool2d":
            return views.mean(axis=0)
        self.winner = views.argmax(axis=0)
        return views.max(axis=0)

    def backward(self, grad):
        self.grads = {}
        k, s = self.kernel, self.stride
        dx = np.zeros(self.shape, dtype=grad.dtype)
        for number, (di, dj) in enumerate(_offsets(k)):
            share = grad / (k * k) if self.kind == "avgpool2d" else grad * (self.winner == number)
            _view(dx, di, dj, s, self.rows, self.cols)[...] += share
        return self.unpadded(dx)

    def unpadded(self, dx):
        """The gradient of the padded input, its padding cut off."""
        p = self.padding
        return dx[:, :, p:dx.shape[2] - p, p:dx.shape[3] - p]


class FlattenLayer:
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad):
        self.grads = {}
        return grad.reshape(self.shape)


def make_layer(layer, params: NamedParams, i: int, entering: tuple[int, ...]):
    """The NumPy layer for one spec layer, with its parameters (``"{i}.weight"`` …)."""
    def get(name):
        return params.get(f"{i}.{name}")
    if isinstance(layer, Dense):
        return DenseLayer(get("weight"), get("bias"))
    if isinstance(layer, Activation):
        return ActivationLayer(layer.name)
    if isinstance(layer, Dropout):
        return DropoutLayer(layer.p, get("mask"))
    if isinstance(layer, BatchNorm):
        spatial = len(entering) == 3
        shape = (1, -1, 1, 1) if spatial else (1, -1)
        axes = (0, 2, 3) if spatial else (0,)
        return NormLayer(get("weight"), get("bias"), axes, shape, axes)
    if isinstance(layer, LayerNorm):
        ndim = len(entering) + 1
        return NormLayer(get("weight"), get("bias"), (-1,), (1,) * (ndim - 1) + (-1,), tuple(range(ndim - 1)))
    if isinstance(layer, Conv2d):
        return ConvLayer(get("weight"), get("bias"), layer.stride, layer.padding)
    if isinstance(layer, (MaxPool2d, AvgPool2d)):
        return PoolLayer(layer.kernel, layer.step, layer.kind, layer.padding)
    if isinstance(layer, Flatten):
        return FlattenLayer()
    if isinstance(layer, Embedding):
        return EmbeddingLayer(get("weight"))
    if isinstance(layer, Recurrent):  # recurrent kinds: implementations/reference_recurrent.py
        return RecurrentLayer(layer.kind, *(get(n) for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                              "bias_hh_l0", "h0", "c0")))
    return make_graph_layer(layer, params, i, entering, make_layer)  # residual, attention; or unknown


class Sequential:
    """The layers of a ``SequenceSpec``, applied in order; backward in reverse."""

    def __init__(self, spec: SequenceSpec, params: NamedParams):
        self.layers = [make_layer(layer, params, i, shape)
                       for i, (layer, shape) in enumerate(zip(spec.layers, spec.shapes))]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad):
        """The input's gradient, and every parameter's by name."""
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        named = {f"{i}.{name}": g for i, layer in enumerate(self.layers) for name, g in layer.grads.items()}
        return grad, named


def classification_loss(name: str, y: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """The two losses only layer-sequence networks carry, and their gradients dL/dy."""
    if name == "binary_cross_entropy":  # of logits, mean over every element
        loss = np.mean(np.maximum(y, 0) - y * targets + np.log1p(np.exp(-np.abs(y))))
        return float(loss), ((_sigmoid(y) - targets) / y.size).astype(y.dtype)
    if name == "hinge":  # multiclass SVM: Σ_{j≠label} max(0, 1 + s_j − s_label), mean over the batch
        rows = np.arange(len(y))
        margins = 1 + y - y[rows, targets][:, None]
        margins[rows, targets] = 0
        active = (margins > 0).astype(y.dtype)
        grad = active.copy()
        grad[rows, targets] = -active.sum(axis=1)
        return float(np.maximum(margins, 0).sum() / len(y)), grad / len(y)
    raise ValueError(f"unknown loss {name!r}")


def l2_penalty(spec: SequenceSpec, params: NamedParams) -> tuple[float, dict[str, np.ndarray]]:
    """``l2/2 · Σ‖W‖²`` over the penalised weights, and its gradient ``l2 · W`` by name."""
    names = spec.penalised() if spec.l2 else ()
    value = sum(0.5 * spec.l2 * float((params[n].astype(np.float64) ** 2).sum()) for n in names)
    return value, {n: spec.l2 * params[n] for n in names}
