"""The spec's activations and losses in PyTorch: what the names mean, for the autograd oracle
and for timing PyTorch next to an implementation; and the oracle's backward from a given
upstream gradient (``pull_back``). Importing it imports PyTorch."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from conformance.cases.conventions import LOG_LOSSES, OWN_REDUCTIONS, PYTORCH, Conventions

ActivationFn = Callable[[torch.Tensor], torch.Tensor]

ACTIVATION_FNS: dict[str, ActivationFn] = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def loss_value(name: str, y: torch.Tensor, targets: torch.Tensor, conventions: Conventions = PYTORCH) -> torch.Tensor:
    """The loss the suite means by ``name`` (see README, "Names"), under ``conventions``."""
    if not follows_pytorch(name, conventions):
        return conventional_loss(name, y, targets, conventions)
    if name == "softmax_cross_entropy":
        return F.cross_entropy(y, targets.long())
    squared = (y - targets) ** 2
    return {
        "sse": lambda: squared.sum(),
        "half_sse": lambda: 0.5 * squared.sum(),
        "mse": lambda: squared.mean(),
        "half_mse": lambda: 0.5 * squared.mean(),
    }[name]()


def follows_pytorch(loss: str, conventions: Conventions) -> bool:
    """Whether ``loss`` means under ``conventions`` what PyTorch means by it."""
    return (conventions.reductions(loss) == OWN_REDUCTIONS[loss]
            and not ((conventions.log_eps or conventions.log_clip) and loss in LOG_LOSSES))


def _log(p: torch.Tensor, conventions: Conventions) -> torch.Tensor:
    if conventions.log_clip:
        p = torch.clamp(p, conventions.log_clip, 1 - conventions.log_clip)
    return torch.log(p + conventions.log_eps) if conventions.log_eps else torch.log(p)


def _terms(name: str, y: torch.Tensor, targets: torch.Tensor, conventions: Conventions) -> torch.Tensor:
    """The loss's terms, one per sample and output, before any reduction."""
    if name == "softmax_cross_entropy":
        if not (conventions.log_eps or conventions.log_clip):  # log-sum-exp, as PyTorch's
            return -torch.log_softmax(y, dim=1).gather(1, targets.long()[:, None])
        p = torch.softmax(y, dim=1).gather(1, targets.long()[:, None])
        return -_log(p, conventions)
    if name == "binary_cross_entropy":
        t = targets.to(y.dtype)
        if not (conventions.log_eps or conventions.log_clip):
            return F.binary_cross_entropy_with_logits(y, t, reduction="none")
        p = torch.sigmoid(y)
        return -(t * _log(p, conventions) + (1 - t) * _log(1 - p, conventions))
    if name == "hinge":
        chosen = y.gather(1, targets.long()[:, None])
        margins = (1 + y - chosen).scatter(1, targets.long()[:, None], -1.0)
        return torch.clamp(margins, min=0)
    squared = (y - targets) ** 2
    return 0.5 * squared if name.startswith("half_") else squared


def conventional_loss(name: str, y: torch.Tensor, targets: torch.Tensor, conventions: Conventions) -> torch.Tensor:
    """``name``'s terms reduced over the outputs, then over the batch, as ``conventions`` say."""
    outputs, batch = conventions.reductions(name)
    terms = _terms(name, y, targets, conventions)
    per_sample = terms.sum(dim=1) if outputs == "sum" else terms.mean(dim=1)
    return per_sample.sum() if batch == "sum" else per_sample.mean()


def pull_back(output: torch.Tensor, upstream: torch.Tensor) -> None:
    """Backward of ``output`` from the gradient ``upstream``, as the scalar ``<output, upstream>``:
    the gradient reaching ``output`` is ``1 · upstream``, the same numbers bit for bit.
    ``output.backward(upstream)`` first imports PyTorch's symbolic-shape module (and SymPy) to
    check the gradient's shape, 0.6–0.8 s of every command's first case."""
    torch.sum(output * upstream).backward()
