"""The spec's activations and losses in PyTorch: what the names mean, for the autograd oracle
and for timing PyTorch next to an implementation. Importing it imports PyTorch."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

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
