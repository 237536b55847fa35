"""The PyTorch oracle: the intended function and its gradients, by float64 autograd.

It evaluates the same spec on the same numbers the implementation received
(upcast to float64, so a float32 case is judged against the exact answer for
its rounded inputs), and never sees the implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from conformance.adapter import Gradients
from conformance.spec import CaseData, NetworkSpec, Params

ActivationFn = Callable[[torch.Tensor], torch.Tensor]
#: A layer's affine map ``(a, weight, bias or None) -> z``.
LinearFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]

ACTIVATION_FNS: dict[str, ActivationFn] = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def loss_value(name: str, y: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The loss the suite means by ``name`` (see README, "Names")."""
    if name == "softmax_cross_entropy":
        return F.cross_entropy(y, targets.long())
    squared = (y - targets) ** 2
    return {
        "sse": lambda: squared.sum(),
        "half_sse": lambda: 0.5 * squared.sum(),
        "mse": lambda: squared.mean(),
        "half_mse": lambda: 0.5 * squared.mean(),
    }[name]()


@dataclass(frozen=True, eq=False)
class Reference:
    """The oracle's answer for one case, in float64 and canonical layout."""

    output: np.ndarray
    loss: float | None
    gradients: Gradients
    #: dL/d(output) that was propagated: the upstream gradient, or the loss's gradient.
    grad_output: np.ndarray
    #: dL/dz and dL/da of every layer (pre-activation z, activation output a).
    preactivation_gradients: tuple[np.ndarray, ...] = ()
    activation_gradients: tuple[np.ndarray, ...] = ()


def _tensor(a: np.ndarray | None) -> torch.Tensor | None:
    if a is None:
        return None
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def evaluate(
    spec: NetworkSpec,
    params: Params,
    x: np.ndarray,
    upstream: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    activations: dict[str, ActivationFn] | None = None,
    layer_activations: Sequence[ActivationFn | None] | None = None,
    linears: Sequence[LinearFn | None] | None = None,
) -> Reference:
    """Forward and backward of ``spec`` in float64.

    With ``spec.loss`` set, the loss against ``targets`` is differentiated;
    otherwise ``upstream`` is pulled back as a vector-Jacobian product.
    ``activations`` may replace the activation functions by name, and
    ``layer_activations`` / ``linears`` layer by layer (None keeps a layer's
    own): the diagnosis evaluates "what if" variants of the network that way.
    """
    fns = ACTIVATION_FNS | (activations or {})
    layer_activations = layer_activations or [None] * spec.depth
    linears = linears or [None] * spec.depth
    xs = _tensor(x)
    ws = [_tensor(w) for w in params.weights]
    bs = [_tensor(b) for b in params.biases]
    a, zs, outs = xs, [], []
    for layer, w, b, activation, linear in zip(spec.layers, ws, bs, layer_activations, linears):
        z = (linear or _linear)(a, w, b)
        a = (activation or fns[layer.activation])(z)
        for kept in (z, a):
            kept.retain_grad()
        zs.append(z)
        outs.append(a)
    output = a
    output.retain_grad()
    loss = None
    if spec.loss is not None:
        loss = loss_value(spec.loss, output, torch.as_tensor(np.asarray(targets)))
        loss.backward()
    else:
        output.backward(torch.as_tensor(np.asarray(upstream, dtype=np.float64)))
    grads = Gradients(
        xs.grad.numpy(),
        tuple(w.grad.numpy() for w in ws),
        tuple(None if b is None else b.grad.numpy() for b in bs),
    )
    return Reference(
        output.detach().numpy(), None if loss is None else float(loss.detach()), grads, output.grad.detach().numpy(),
        tuple(_grad_of(z) for z in zs), tuple(_grad_of(a) for a in outs),
    )


def _linear(a: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    z = a @ w.T
    return z if b is None else z + b


def _grad_of(t: torch.Tensor) -> np.ndarray:
    return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.detach().numpy()


def reference(data: CaseData) -> Reference:
    """The oracle's answer for a generated case."""
    return evaluate(data.case.spec, data.params, data.x, data.upstream, data.targets)
