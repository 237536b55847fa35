"""What a diagnosis names: one bug (``Finding``: a kind, where, one sentence), and whether a
diagnosis's findings hold an expected bug (``matches``: the audit's and the tests' question)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Finding:
    """One bug the diagnosis names: a kind, where (layers and/or tensors), and one sentence."""

    kind: str
    text: str
    layers: tuple[int, ...] = ()
    tensors: tuple[str, ...] = ()
    factor: float | None = None
    variant: str = ""
    #: The bug changes the forward: every gradient below and above it follows from it.
    forward: bool = False


def matches(findings: Iterable[Finding], kind: str, layers: tuple[int, ...] | None = None,
            tensors: tuple[str, ...] | None = None, factor: float | None = None, variant: str = "") -> bool:
    """Whether one of ``findings`` is of ``kind`` (and, where given, at those layers, on those
    tensors, with that factor and variant)."""
    for f in findings:
        if f.kind != kind or (layers is not None and f.layers != tuple(layers)):
            continue
        if tensors is not None and f.tensors != tuple(tensors):
            continue
        if factor is not None and (f.factor is None or abs(f.factor - factor) > 1e-3 * abs(factor)):
            continue
        if variant and f.variant != variant:
            continue
        return True
    return False
