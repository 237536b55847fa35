"""Adapters written from the README and docs/adapter.md alone, for code that follows conventions
other than PyTorch's: a NumPy network whose layer norm and batch norm take their own eps, an MSE
summed over the outputs (and, separately, over the batch), a softmax regression whose
cross-entropy takes log(p + ε). Each is correct for its own forward (its backward is the exact
derivative of what it computes); ``WrongNormBackward`` is not (its norms' backward treats the
mean and variance as constants). The tests declare or leave out each convention."""

import numpy as np

from conformance import Adapter, Capabilities, Conventions, Gradients

#: The layer kinds every adapter of this file declares.
LAYERS = {"dense", "layernorm", "batchnorm", "tanh", "relu"}


# ---- a small NumPy network of dense, norm and tanh layers ---------------------------------------

class Norm:
    """Layer norm (over the features of a sample) or batch norm (over the batch), eps its own."""

    def __init__(self, gamma, beta, axis, eps, exact=True):
        self.gamma, self.beta, self.axis, self.eps, self.exact = gamma, beta, axis, eps, exact

    def forward(self, x):
        mu = x.mean(axis=self.axis, keepdims=True)
        self.xc = x - mu
        self.inv = 1.0 / np.sqrt((self.xc ** 2).mean(axis=self.axis, keepdims=True) + self.eps)
        self.xhat = self.xc * self.inv
        return self.gamma * self.xhat + self.beta

    def backward(self, g):
        self.dgamma = (g * self.xhat).sum(axis=0)
        self.dbeta = g.sum(axis=0)
        dxhat = g * self.gamma
        if not self.exact:  # mean and variance taken as constants
            return dxhat * self.inv
        n = self.xc.shape[self.axis]
        return self.inv / n * (n * dxhat - dxhat.sum(axis=self.axis, keepdims=True)
                               - self.xhat * (dxhat * self.xhat).sum(axis=self.axis, keepdims=True))


class NormNetAdapter(Adapter):
    """dense, layernorm, batchnorm (of (batch, features)) and tanh, from an upstream gradient."""

    name = "norm_net"
    capabilities = Capabilities(layers=LAYERS, mlp=False)
    LAYER_NORM_EPS = 1e-5
    BATCH_NORM_EPS = 1e-5
    EXACT = True

    def supports(self, spec, batch, dtype):
        if reason := super().supports(spec, batch, dtype):
            return reason
        return "images" if len(spec.input_shape) != 1 else None

    def build(self, spec, params):
        self.spec, self.params = spec, params
        self.layers = []
        for i, layer in enumerate(spec.layers):
            self.layers.append((layer.kind, i, Norm(params[f"{i}.weight"], params[f"{i}.bias"],
                                                    -1 if layer.kind == "layernorm" else 0,
                                                    self.LAYER_NORM_EPS if layer.kind == "layernorm"
                                                    else self.BATCH_NORM_EPS, self.EXACT)
                                if layer.kind in ("layernorm", "batchnorm") else None))

    def forward(self, x):
        self.inputs = []
        for kind, i, norm in self.layers:
            self.inputs.append(x)
            if kind == "dense":
                w, b = self.params[f"{i}.weight"], self.params.get(f"{i}.bias")
                x = x @ w.T + (0 if b is None else b)
            elif norm is not None:
                x = norm.forward(x)
            elif kind == "tanh":
                x = np.tanh(x)
            else:
                x = np.maximum(x, 0)
        return x

    def backward(self, g):
        named = {}
        for (kind, i, norm), x in zip(reversed(self.layers), reversed(self.inputs)):
            if kind == "dense":
                named[f"{i}.weight"] = g.T @ x
                if f"{i}.bias" in self.params:
                    named[f"{i}.bias"] = g.sum(axis=0)
                g = g @ self.params[f"{i}.weight"]
            elif norm is not None:
                g = norm.backward(g)
                named[f"{i}.weight"], named[f"{i}.bias"] = norm.dgamma, norm.dbeta
            elif kind == "tanh":
                g = g * (1 - np.tanh(x) ** 2)
            else:
                g = g * (x > 0)
        return Gradients(g, named=named)


class LayerNormEps8(NormNetAdapter):
    name = "layer_norm_eps_1e-8"
    LAYER_NORM_EPS = 1e-8


class LayerNormEps8Declared(LayerNormEps8):
    name = "layer_norm_eps_1e-8_declared"
    capabilities = Capabilities(layers=LAYERS, mlp=False,
                                conventions=Conventions(layernorm_eps=1e-8))


class WrongNormBackward(LayerNormEps8):
    name = "layer_norm_eps_1e-8_wrong_backward"
    EXACT = False


class BatchNormEps3(NormNetAdapter):
    name = "batch_norm_eps_1e-3"
    BATCH_NORM_EPS = 1e-3


class BatchNormEps3Declared(BatchNormEps3):
    name = "batch_norm_eps_1e-3_declared"
    capabilities = Capabilities(layers=LAYERS, mlp=False,
                                conventions=Conventions(batchnorm_eps=1e-3))


class FullL2Penalty(NormNetAdapter):
    """Its mse carries the penalty λ·Σ‖W‖² (no ½), and its gradient 2λ·W: the exact derivative."""

    name = "l2_penalty_without_half"
    capabilities = Capabilities(layers=LAYERS, mlp=False,
                                losses={"mse"}, penalties={"l2"})

    def loss(self, x, targets):
        r = self.forward(x) - targets
        grads = self.backward(2 * r / r.size)
        named = dict(grads.named)
        penalty = 0.0
        for weight in self.spec.penalised():
            penalty += self.spec.l2 * (self.params[weight] ** 2).sum()
            named[weight] = named[weight] + 2 * self.spec.l2 * self.params[weight]
        return (r ** 2).mean() + penalty, Gradients(grads.input, named=named)


# ---- a NumPy MLP whose "mse" sums ------------------------------------------------------------

class SummedMSE(Adapter):
    """One tanh hidden layer and a linear output; its "mse" is Σ over outputs, mean over the batch."""

    name = "mse_summed_over_outputs"
    capabilities = Capabilities(activations={"tanh"}, output_activations={"identity"}, losses={"mse"},
                                vjp=False, min_depth=2, max_depth=2, bias={True})
    BATCH_SUM = False

    def build(self, spec, params):
        self.W, self.b = params.weights, params.biases

    def forward(self, x):
        self.x = x
        self.h = np.tanh(x @ self.W[0].T + self.b[0])
        return self.h @ self.W[1].T + self.b[1]

    def loss(self, x, targets):
        r = self.forward(x) - targets
        scale = 1.0 if self.BATCH_SUM else 1.0 / len(x)
        value = scale * (r ** 2).sum()
        dy = 2 * scale * r
        dh = (dy @ self.W[1]) * (1 - self.h ** 2)
        return value, Gradients(dh @ self.W[0], (dh.T @ self.x, dy.T @ self.h), (dh.sum(0), dy.sum(0)))


class SummedMSEDeclared(SummedMSE):
    name = "mse_summed_over_outputs_declared"
    capabilities = Capabilities(activations={"tanh"}, output_activations={"identity"}, losses={"mse"},
                                vjp=False, min_depth=2, max_depth=2, bias={True},
                                conventions=Conventions(output_reduction="sum"))


class SumEverythingMSE(SummedMSE):
    name = "mse_summed_over_everything"
    BATCH_SUM = True


# ---- the same MLP with a cross-entropy that takes log(p + 1e-8) -----------------------------------

class LogEpsSoftmax(SummedMSE):
    """Its softmax cross-entropy is −mean log(p[label] + 1e-8), with the exact gradient of that value."""

    name = "softmax_log_p_plus_1e-8"
    capabilities = Capabilities(activations={"tanh"}, output_activations={"identity"},
                                losses={"softmax_cross_entropy"}, vjp=False, min_depth=2, max_depth=2, bias={True})
    EPS = 1e-8

    def loss(self, x, labels):
        z = self.forward(x)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        rows = np.arange(len(x))
        py = p[rows, labels]
        value = -np.log(py + self.EPS).mean()
        onehot = np.zeros_like(p)
        onehot[rows, labels] = 1
        dy = -(py / (py + self.EPS))[:, None] * (onehot - p) / len(x)
        dh = (dy @ self.W[1]) * (1 - self.h ** 2)
        return value, Gradients(dh @ self.W[0], (dh.T @ self.x, dy.T @ self.h), (dh.sum(0), dy.sum(0)))


class LogEpsSoftmaxDeclared(LogEpsSoftmax):
    name = "softmax_log_p_plus_1e-8_declared"
    capabilities = Capabilities(activations={"tanh"}, output_activations={"identity"},
                                losses={"softmax_cross_entropy"}, vjp=False, min_depth=2, max_depth=2, bias={True},
                                conventions=Conventions(log_eps=1e-8))


# ---- one declaration per loss: an MSE summed over the outputs beside PyTorch's cross-entropy -------

class PerLossMLP(SummedMSE):
    """Its "mse" sums over a sample's outputs and averages over the batch (scikit-learn's gradient
    convention); its softmax cross-entropy is PyTorch's mean of −log p[label]."""

    name = "mse_summed_cross_entropy_mean"
    capabilities = Capabilities(activations={"tanh"}, output_activations={"identity"},
                                losses={"mse", "softmax_cross_entropy"}, vjp=False, min_depth=2, max_depth=2,
                                bias={True})
    BIAS_MEAN = False  # a bug: the output bias's gradient averaged over the batch once more

    def loss(self, x, targets):
        z = self.forward(x)
        if z.shape == np.shape(targets):
            r = z - targets
            value, dy = (r ** 2).sum() / len(x), 2 * r / len(x)
        else:
            shifted = z - z.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            onehot = np.eye(z.shape[1])[targets]
            value, dy = -log_p[np.arange(len(x)), targets].mean(), (np.exp(log_p) - onehot) / len(x)
        dh = (dy @ self.W[1]) * (1 - self.h ** 2)
        db = dy.mean(0) if self.BIAS_MEAN else dy.sum(0)
        return value, Gradients(dh @ self.W[0], (dh.T @ self.x, dy.T @ self.h), (dh.sum(0), db))


class PerLossMLPDeclared(PerLossMLP):
    name = "mse_summed_cross_entropy_mean_declared"
    capabilities = Capabilities(activations={"tanh"}, output_activations={"identity"},
                                losses={"mse", "softmax_cross_entropy"}, vjp=False, min_depth=2, max_depth=2,
                                bias={True}, conventions=Conventions(loss_reductions={"mse": ("sum", "mean")}))


class PerLossMLPBiasBug(PerLossMLP):
    name = "mse_summed_bias_averaged_twice"
    BIAS_MEAN = True


# ---- an L2 penalty of λ/2m·Σ‖W‖² (m the batch size) --------------------------------------------

class BatchL2Penalty(NormNetAdapter):
    """Its mse carries λ/(2m)·Σ‖W‖² and its gradient λ/m·W (``PER_BATCH_GRADIENT`` False: λ·W, a bug)."""

    name = "l2_penalty_over_2m"
    capabilities = Capabilities(layers=LAYERS, mlp=False, losses={"mse"}, penalties={"l2"})
    PER_BATCH_GRADIENT = True

    def loss(self, x, targets):
        r = self.forward(x) - targets
        grads = self.backward(2 * r / r.size)
        named, m = dict(grads.named), len(x)
        penalty = 0.0
        for weight in self.spec.penalised():
            penalty += self.spec.l2 / (2 * m) * (self.params[weight] ** 2).sum()
            named[weight] = named[weight] + self.spec.l2 / (m if self.PER_BATCH_GRADIENT else 1) * self.params[weight]
        return (r ** 2).mean() + penalty, Gradients(grads.input, named=named)


class BatchL2PenaltyDeclared(BatchL2Penalty):
    name = "l2_penalty_over_2m_declared"
    capabilities = Capabilities(layers=LAYERS, mlp=False, losses={"mse"}, penalties={"l2"},
                                conventions=Conventions(l2_per_batch=True))


class BatchL2PenaltyGradientBug(BatchL2Penalty):
    name = "l2_penalty_over_2m_gradient_without_1_over_m"
    PER_BATCH_GRADIENT = False


class PerLossMLPDeclaredWrongly(PerLossMLP):
    """Declares its mse summed over the outputs, but computes PyTorch's mean (a wrong declaration)."""

    name = "mse_declared_summed_but_averaged"
    capabilities = PerLossMLPDeclared.capabilities

    def loss(self, x, targets):
        value, grads = super().loss(x, targets)
        if np.ndim(targets) == 1:  # the cross-entropy's labels
            return value, grads
        n = targets.shape[1]
        return value / n, Gradients(grads.input / n, tuple(w / n for w in grads.weights),
                                    tuple(b / n for b in grads.biases))
