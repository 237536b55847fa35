"""The PyTorch oracle for layer-sequence networks: float64 autograd through
``torch.nn.functional`` (``cases.torch_layers``), gradients by parameter name.

``evaluate`` takes what-if changes as the diagnosis makes them: layers replaced
(``overrides``), the loss's (or the upstream) gradient scaled (``loss_factor``) and the L2 penalty's
gradient scaled (``penalty_factor``: 2 for a penalty whose gradient keeps the ½'s 2,
0 for one that misses λ), more tensors under the penalty (``also_penalised``, the biases; in
its gradient only when ``penalty_in_loss`` is False), each applied to the oracle's own computation.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from conformance.cases import torch_layers
from conformance.cases.torch_ops import pull_back
from conformance.cases.spec import CaseData
from conformance.contract.adapter import Gradients
from conformance.oracles.answer import Reference
from conformance.oracles.whatif import ScaleGradient


def scale_gradient(a: torch.Tensor, factor: float) -> torch.Tensor:
    """``a`` going up; the gradient reaching it multiplied by ``factor`` coming down."""
    return a if factor == 1.0 else ScaleGradient.apply(a, factor)


def evaluate(data: CaseData, overrides: Mapping[int, torch_layers.Override] | None = None,
             loss_factor: float = 1.0, penalty_factor: float = 1.0, also_penalised: tuple[str, ...] = (),
             penalty_in_loss: bool = True) -> Reference:
    """Forward and backward of the case's network in float64 (a what-if one with the changes given),
    under the case's conventions."""
    spec = data.case.spec
    def leaf(a):
        return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
    x = torch.as_tensor(data.x) if spec.integer_input else leaf(data.x)  # token indices: not differentiated
    tensors = {name: leaf(t) for name, t in data.params.tensors.items()}
    buffers = {name: torch.as_tensor(np.asarray(b, dtype=np.float64)) for name, b in data.params.buffers.items()}
    with torch_layers.following(data.case.conventions):
        output = torch_layers.forward(spec, x, tensors | buffers, overrides)
        loss = None
        if spec.loss is not None:
            targets = torch.as_tensor(np.asarray(data.targets))
            value = torch_layers.loss_value(spec.loss, scale_gradient(output, loss_factor), targets)
            if spec.l2:
                value = value + scale_gradient(torch_layers.penalty(spec, tensors, len(x)), penalty_factor)
            if also_penalised:
                extra = torch_layers.penalty(spec, tensors, len(x), names=also_penalised)
                value = value + (extra if penalty_in_loss else extra - extra.detach())
            loss = value
            loss.backward()
        else:
            pull_back(output, torch.as_tensor(np.asarray(data.upstream, dtype=np.float64)) * loss_factor)
    grads = {name: (t.grad if t.grad is not None else torch.zeros_like(t)).numpy() for name, t in tensors.items()}
    dx = None if spec.integer_input else x.grad.numpy() if x.grad is not None else np.zeros(x.shape)
    gradients = Gradients(dx, named=grads)
    return Reference(output.detach().numpy(), None if loss is None else float(loss.detach()), gradients)
