"""The project's own NumPy multilayer perceptron and its adapter: the model to copy.

It supports every activation, bias on or off per layer, every loss the suite
knows and any batch size, and must pass every case. It stores weights in the
canonical layout (``(n_out, n_in)``), so its adapter has nothing to
translate; an adapter for code with another layout transposes in ``build``
and back in ``backward``. Layer-sequence networks (every layer kind, the L2
penalty) run through ``reference_layers.Sequential``; their gradients go back
by parameter name.
"""

from __future__ import annotations

import numpy as np

from conformance.contract.adapter import Adapter, Capabilities, Gradients
from conformance.cases.layers import LAYER_KINDS, SEQUENCE_LOSSES, SequenceSpec
from conformance.cases.spec import LOSSES, NetworkSpec, Params
from conformance.implementations.reference_layers import Sequential, classification_loss, l2_penalty


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "identity":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(0.5 * z))  # logistic without overflow for large |z|
    raise ValueError(f"unknown activation {name!r}")


def activation_derivative(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """d activation / dz at pre-activation ``z`` with output ``a``."""
    if name == "identity":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "tanh":
        return 1 - a * a
    if name == "sigmoid":
        return a * (1 - a)
    raise ValueError(f"unknown activation {name!r}")


def loss_and_gradient(name: str, y: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss of output ``y`` and its gradient dL/dy."""
    if name == "softmax_cross_entropy":
        shifted = y - y.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(len(y))
        loss = -log_probs[rows, targets].mean()
        grad = np.exp(log_probs)
        grad[rows, targets] -= 1
        return float(loss), grad / len(y)
    residual = y - targets
    scale = {"sse": 2.0, "half_sse": 1.0, "mse": 2.0 / residual.size, "half_mse": 1.0 / residual.size}[name]
    loss = 0.5 * scale * float((residual * residual).sum())
    return loss, (scale * residual).astype(y.dtype)


class MLP:
    """Layers ``a = act(a_prev @ W.T + b)``; caches what backward needs."""

    def __init__(self, weights, biases, activations):
        self.weights, self.biases, self.activations = list(weights), list(biases), list(activations)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.inputs, self.pre, self.post = [], [], []
        a = x
        for w, b, name in zip(self.weights, self.biases, self.activations):
            self.inputs.append(a)
            z = a @ w.T if b is None else a @ w.T + b
            a = activate(name, z)
            self.pre.append(z)
            self.post.append(a)
        return a

    def backward(self, grad_output: np.ndarray):
        grad_w, grad_b = [None] * len(self.weights), [None] * len(self.weights)
        grad = grad_output
        for i in reversed(range(len(self.weights))):
            delta = grad * activation_derivative(self.activations[i], self.pre[i], self.post[i])
            grad_w[i] = delta.T @ self.inputs[i]
            grad_b[i] = None if self.biases[i] is None else delta.sum(axis=0)
            grad = delta @ self.weights[i]
        return grad, grad_w, grad_b


def sequence_loss_and_gradient(name: str, y: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Any loss a layer-sequence network carries, and its gradient dL/dy."""
    if name in ("binary_cross_entropy", "hinge"):
        return classification_loss(name, y, targets)
    return loss_and_gradient(name, y, targets)


class ReferenceNumpy(Adapter):
    name = "reference_numpy"
    description = "the project's own NumPy MLP: every activation, bias on/off, every loss, any batch"
    capabilities = Capabilities(losses=frozenset(SEQUENCE_LOSSES), layers=frozenset(LAYER_KINDS),
                                penalties=frozenset({"l2"}))
    #: What a subclass that rewrites the MLP's arithmetic (``build``, ``forward``, ``backward``
    #: or ``loss``) without declaring capabilities of its own is offered: the MLP cases, as
    #: before layer-sequence networks existed. Such a subclass (a plug-in that starts from
    #: the reference and changes its backward) computes MLP gradients only, and would fail
    #: the layer networks for a reason that is not its own.
    mlp_capabilities = Capabilities(losses=frozenset(LOSSES))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        rewritten = {"build", "forward", "backward", "loss"} & set(vars(cls))
        if rewritten and "capabilities" not in vars(cls) and cls.capabilities is ReferenceNumpy.capabilities:
            cls.capabilities = ReferenceNumpy.mlp_capabilities

    def build(self, spec: NetworkSpec | SequenceSpec, params: Params) -> None:
        self.spec, self.params, self.loss_name = spec, params, spec.loss
        if isinstance(spec, SequenceSpec):
            self.net = Sequential(spec, params)
        else:
            self.net = MLP(params.weights, params.biases, [layer.activation for layer in spec.layers])

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.net.forward(x)

    def backward(self, grad_output: np.ndarray) -> Gradients:
        if isinstance(self.net, Sequential):
            grad_x, named = self.net.backward(grad_output)
            return Gradients(grad_x, named=named)
        grad_x, grad_w, grad_b = self.net.backward(grad_output)
        return Gradients(grad_x, tuple(grad_w), tuple(grad_b))

    def loss(self, x: np.ndarray, targets: np.ndarray) -> tuple[float, Gradients]:
        if isinstance(self.net, Sequential):
            return self.sequence_loss(x, targets)
        loss, grad_output = loss_and_gradient(self.loss_name, self.forward(x), targets)
        return loss, self.backward(grad_output)

    def sequence_loss(self, x: np.ndarray, targets: np.ndarray) -> tuple[float, Gradients]:
        """The loss with its L2 penalty, and the gradients with the penalty's added."""
        loss, grad_output = sequence_loss_and_gradient(self.loss_name, self.forward(x), targets)
        grads = self.backward(grad_output)
        penalty, penalty_grads = l2_penalty(self.spec, self.params)
        named = {name: g + penalty_grads[name] if name in penalty_grads else g for name, g in grads.named.items()}
        return loss + penalty, Gradients(grads.input, named=named)
