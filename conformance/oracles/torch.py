"""The PyTorch oracle: the intended function and its gradients, by float64 autograd.

It evaluates the same spec on the same numbers the implementation received
(upcast to float64, so a float32 case is judged against the exact answer for
its rounded inputs), and never sees the implementation.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from conformance.contract.adapter import Gradients
from conformance.cases.conventions import PYTORCH, Conventions
from conformance.cases.spec import CaseData, NetworkSpec, Params
from conformance.cases.torch_ops import ACTIVATION_FNS, ActivationFn, loss_value, pull_back
from conformance.oracles.answer import Reference

#: A layer's affine map ``(a, weight, bias or None) -> z``.
LinearFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


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
    conventions: Conventions = PYTORCH,
) -> Reference:
    """Forward and backward of ``spec`` in float64.

    With ``spec.loss`` set, the loss against ``targets`` is differentiated;
    otherwise ``upstream`` is pulled back as a vector-Jacobian product.
    ``activations`` may replace the activation functions by name, and
    ``layer_activations`` / ``linears`` layer by layer (None keeps a layer's
    own): the diagnosis evaluates "what if" variants of the network that way. The loss
    follows ``conventions``.
    """
    fns = ACTIVATION_FNS | (activations or {})
    layer_activations = layer_activations or [None] * spec.depth
    linears = linears or [None] * spec.depth
    xs = _tensor(x)
    ws = [_tensor(w) for w in params.weights]
    bs = [_tensor(b) for b in params.biases]
    a = xs
    for layer, w, b, activation, linear in zip(spec.layers, ws, bs, layer_activations, linears):
        a = (activation or fns[layer.activation])((linear or _linear)(a, w, b))
    output = a
    loss = None
    if spec.loss is not None:
        loss = loss_value(spec.loss, output, torch.as_tensor(np.asarray(targets)), conventions)
        loss.backward()
    else:
        pull_back(output, torch.as_tensor(np.asarray(upstream, dtype=np.float64)))
    grads = Gradients(
        xs.grad.numpy(),
        tuple(w.grad.numpy() for w in ws),
        tuple(None if b is None else b.grad.numpy() for b in bs),
    )
    return Reference(output.detach().numpy(), None if loss is None else float(loss.detach()), grads)


def _linear(a: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    z = a @ w.T
    return z if b is None else z + b


def reference(data: CaseData) -> Reference:
    """The oracle's answer for a generated case (a layer-sequence network's: ``oracles.sequence``)."""
    if not isinstance(data.case.spec, NetworkSpec):
        from conformance.oracles import sequence

        return sequence.evaluate(data)
    return evaluate(data.case.spec, data.params, data.x, data.upstream, data.targets,
                    conventions=data.case.conventions)
