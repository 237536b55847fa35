"""The PyTorch oracle: the intended function and its gradients, by float64 autograd.

It evaluates the same spec on the same numbers the implementation received
(upcast to float64, so a float32 case is judged against the exact answer for
its rounded inputs), and never sees the implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from conformance.adapter import Gradients
from conformance.spec import CaseData, NetworkSpec, Params

ActivationFn = Callable[[torch.Tensor], torch.Tensor]

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
) -> Reference:
    """Forward and backward of ``spec`` in float64.

    With ``spec.loss`` set, the loss against ``targets`` is differentiated;
    otherwise ``upstream`` is pulled back as a vector-Jacobian product.
    ``activations`` may replace the activation functions (the diagnosis uses
    that to evaluate "what if" variants of the network).
    """
    fns = ACTIVATION_FNS | (activations or {})
    xs = _tensor(x)
    ws = [_tensor(w) for w in params.weights]
    bs = [_tensor(b) for b in params.biases]
    a = xs
    for layer, w, b in zip(spec.layers, ws, bs):
        z = a @ w.T
        if b is not None:
            z = z + b
        a = fns[layer.activation](z)
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
        output.detach().numpy(), None if loss is None else float(loss.detach()), grads, output.grad.detach().numpy()
    )


def reference(data: CaseData) -> Reference:
    """The oracle's answer for a generated case."""
    return evaluate(data.case.spec, data.params, data.x, data.upstream, data.targets)
