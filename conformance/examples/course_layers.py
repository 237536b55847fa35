"""Example plug-in: layer functions written the way the best-known deep-learning course
assignments have them, and the adapter that composes them into the suite's networks.

    conformance new --example course_layers my_layers.py && conformance check my_layers.py

Every layer is a pair of module-level functions: ``*_forward`` returns the output and a
cache, ``*_backward`` takes the upstream gradient and that cache. Affine weights are
``(D, M)`` (inputs × outputs), dropout's ``p`` is the probability of *keeping* a unit, and
the convolution and max-pool are naive loops. The adapter translates: it transposes the
affine weights, hands dropout the suite's keep-mask, composes the layers in the spec's
order, and returns the gradients by parameter name. Replace any function with your own
(a subclass setting, say, ``batchnorm_backward = staticmethod(my_batchnorm_backward)``)
to check just that one.
"""

import numpy as np

from conformance import Adapter, Capabilities, Gradients

# ---- the layer functions ---------------------------------------------------------------------


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + (0 if b is None else b)
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = None if b is None else dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, np.sqrt(var + eps))


def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    n = dout.shape[0]
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * std)
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    p, mask = dropout_param["p"], dropout_param["mask"]  # p: probability of keeping
    mask = mask / p
    return x * mask, (dropout_param, mask)


def dropout_backward(dout, cache):
    _, mask = cache
    return dout * mask


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, _, height, width = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows, cols = 1 + (height + 2 * pad - hh) // stride, 1 + (width + 2 * pad - ww) // stride
    out = np.zeros((n, f, rows, cols), dtype=x.dtype)
    for i in range(n):
        for k in range(f):
            for r in range(rows):
                for c in range(cols):
                    window = xp[i, :, r * stride:r * stride + hh, c * stride:c * stride + ww]
                    out[i, k, r, c] = np.sum(window * w[k]) + (0 if b is None else b[k])
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    n, f, rows, cols = dout.shape
    hh, ww = w.shape[2:]
    for i in range(n):
        for k in range(f):
            for r in range(rows):
                for c in range(cols):
                    window = (i, slice(None), slice(r * stride, r * stride + hh), slice(c * stride, c * stride + ww))
                    dw[k] += dout[i, k, r, c] * xp[window]
                    dxp[window] += dout[i, k, r, c] * w[k]
    dx = dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, ch, height, width = x.shape
    rows, cols = 1 + (height - ph) // stride, 1 + (width - pw) // stride
    out = np.zeros((n, ch, rows, cols), dtype=x.dtype)
    for r in range(rows):
        for c in range(cols):
            out[:, :, r, c] = x[:, :, r * stride:r * stride + ph, c * stride:c * stride + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    n, ch, rows, cols = dout.shape
    for i in range(n):
        for k in range(ch):
            for r in range(rows):
                for c in range(cols):
                    window = x[i, k, r * stride:r * stride + ph, c * stride:c * stride + pw]
                    at = np.unravel_index(np.argmax(window), window.shape)
                    dx[i, k, r * stride + at[0], c * stride + at[1]] += dout[i, k, r, c]
    return dx


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return -log_probs[np.arange(n), y].mean(), dx / n


def svm_loss(x, y):
    n = x.shape[0]
    margins = np.maximum(0, x - x[np.arange(n), y][:, None] + 1.0)
    margins[np.arange(n), y] = 0
    dx = (margins > 0).astype(x.dtype)
    dx[np.arange(n), y] -= dx.sum(axis=1)
    return margins.sum() / n, dx / n


# ---- the adapter -----------------------------------------------------------------------------


class CourseLayersAdapter(Adapter):
    name = "course_layers"
    description = "example: course-style layer functions (affine, relu, batchnorm, dropout, naive conv and max-pool)"
    capabilities = Capabilities(
        layers={"dense", "relu", "batchnorm", "dropout", "conv2d", "maxpool2d", "flatten"},
        losses={"softmax_cross_entropy", "hinge"}, mlp=False)
    LOSSES = {"softmax_cross_entropy": staticmethod(softmax_loss), "hinge": staticmethod(svm_loss)}

    affine_forward, affine_backward = staticmethod(affine_forward), staticmethod(affine_backward)
    relu_forward, relu_backward = staticmethod(relu_forward), staticmethod(relu_backward)
    batchnorm_forward, batchnorm_backward = staticmethod(batchnorm_forward), staticmethod(batchnorm_backward)
    dropout_forward, dropout_backward = staticmethod(dropout_forward), staticmethod(dropout_backward)
    conv_forward, conv_backward = staticmethod(conv_forward_naive), staticmethod(conv_backward_naive)
    pool_forward, pool_backward = staticmethod(max_pool_forward_naive), staticmethod(max_pool_backward_naive)

    def supports(self, spec, batch, dtype):
        shapes = dict(zip(spec.kinds, spec.shapes)) if hasattr(spec, "kinds") else {}
        if "batchnorm" in shapes and len(shapes["batchnorm"]) == 3:
            return "no spatial batch norm (batchnorm_forward takes (N, D))"
        return super().supports(spec, batch, dtype)

    def build(self, spec, params):
        self.spec, self.params = spec, params

    def _step(self, i, layer, x):
        """Layer i forward: its output, and how to take its backward (dout -> dx, grads by name)."""
        def get(name):
            return self.params.get(f"{i}.{name}")
        if layer.kind == "dense":
            out, cache = self.affine_forward(x, get("weight").T, get("bias"))
            return out, lambda d: self._named(i, self.affine_backward(d, cache), transpose=True)
        if layer.kind == "relu":
            out, cache = self.relu_forward(x)
            return out, lambda d: (self.relu_backward(d, cache), {})
        if layer.kind == "batchnorm":
            out, cache = self.batchnorm_forward(x, get("weight"), get("bias"), {"mode": "train", "eps": 1e-5})
            return out, lambda d: self._named(i, self.batchnorm_backward(d, cache))
        if layer.kind == "dropout":
            out, cache = self.dropout_forward(x, {"p": 1 - layer.p, "mode": "train", "mask": get("mask")})
            return out, lambda d: (self.dropout_backward(d, cache), {})
        if layer.kind == "conv2d":
            out, cache = self.conv_forward(x, get("weight"), get("bias"),
                                           {"stride": layer.stride, "pad": layer.padding})
            return out, lambda d: self._named(i, self.conv_backward(d, cache))
        if layer.kind == "maxpool2d":  # the course's pool has no padding: pad with −inf here, cut it off after
            p = layer.padding
            padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
            out, cache = self.pool_forward(padded, {"pool_height": layer.kernel, "pool_width": layer.kernel,
                                                    "stride": layer.step})
            return out, lambda d: (self.pool_backward(d, cache)[:, :, p:p + x.shape[2], p:p + x.shape[3]], {})
        if layer.kind == "flatten":
            return x.reshape(len(x), -1), lambda d: (d.reshape(x.shape), {})
        raise ValueError(f"no {layer.kind} layer")

    @staticmethod
    def _named(i, grads, transpose=False):
        dx, dw, db = grads
        named = {f"{i}.weight": dw.T if transpose else dw}
        return dx, named | ({} if db is None else {f"{i}.bias": db})

    def forward(self, x):
        self.backwards = []
        for i, layer in enumerate(self.spec.layers):
            x, backward = self._step(i, layer, x)
            self.backwards.append(backward)
        return x

    def backward(self, grad_output):
        named = {}
        for backward in reversed(self.backwards):
            grad_output, grads = backward(grad_output)
            named |= grads
        return Gradients(grad_output, named=named)

    def loss(self, x, targets):
        value, dscores = self.LOSSES[self.spec.loss](self.forward(x), targets)
        return value, self.backward(dscores)
