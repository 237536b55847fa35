"""Telling whether a perturbation of the parameters crosses an activation's kink.

A finite difference of a ReLU network is meaningless when a stencil point
puts a pre-activation on the other side of zero. ``KinkGuard`` remembers the
signs of the kinked layers' pre-activations at the case's point and, for a
perturbed point, says whether any sign changed (computed exactly with the
harness's own forward, ``spec.preactivations``) and how far the
pre-activations moved, so the rows can report the margin the estimate had.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.spec import KINKED_ACTIVATIONS, CaseData, preactivations


@dataclass(frozen=True, eq=False)
class KinkGuard:
    """The kinked layers' pre-activations at ``data``'s point."""

    data: CaseData
    layers: tuple[int, ...]
    centre: tuple[np.ndarray, ...]

    @classmethod
    def at(cls, data: CaseData) -> KinkGuard | None:
        """None when the network has no kinked activation (nothing to guard)."""
        spec = data.case.spec
        layers = tuple(i for i, layer in enumerate(spec.layers) if layer.activation in KINKED_ACTIVATIONS)
        if not layers:
            return None
        return cls(data, layers, cls._kinked(data, data.params, data.x, layers))

    @staticmethod
    def _kinked(data: CaseData, params, x, layers: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        zs = preactivations(data.case.spec, params, x)
        return tuple(zs[i] for i in layers)

    @property
    def margin(self) -> float:
        """Smallest distance of a kinked pre-activation from its kink at the case's point."""
        return float(min(np.abs(z).min() for z in self.centre))

    def shift(self, theta: np.ndarray) -> float | None:
        """How far the kinked pre-activations move at the flat point ``theta`` (largest
        change), or None when any of them changes sign (crosses or touches the kink)."""
        moved = self.data.with_flat(theta)
        largest = 0.0
        for before, after in zip(self.centre, self._kinked(moved, moved.params, moved.x, self.layers)):
            if np.any(np.sign(before) != np.sign(after)):
                return None
            largest = max(largest, float(np.abs(after - before).max()))
        return largest
