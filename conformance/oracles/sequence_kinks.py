"""Telling whether a perturbation crosses a kink of a layer-sequence network.

The same questions ``kinks.KinkGuard`` answers for an MLP, for every kink a layer sequence
has (``cases.torch_layers.Kinks``): a ReLU or leaky-ReLU input or a hinge margin that
changes sign, or a max-pool window whose maximum changes hands. Each perturbed point gets
the harness's own float64 forward in full (these networks are small). A quantity closer
to its kink than ``ROUNDING`` units of the dtype's eps (times its scale) has no side one
can rely on: at a stencil point the step shrinks, at the case's point the estimates are
unreliable (``ambiguity``). Max-pool ties between two exact zeros (switched-off ReLUs) are
left out: their gradient is zero whichever wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from conformance.cases import torch_layers
from conformance.cases.spec import CaseData

#: A kink quantity within ``ROUNDING · eps · (1 + its layer's largest |value|)`` of its kink
#: may sit on either side in a forward computed in that dtype (a generous multiple of the
#: n·eps·Σ|terms| a layer's sums can carry on the grid's small layers).
ROUNDING = 256.0


@dataclass(frozen=True, eq=False)
class SequenceKinkGuard:
    data: CaseData
    signs: np.ndarray
    tops: tuple[torch.Tensor, ...]
    leads: np.ndarray
    scale: float
    theta: np.ndarray

    @classmethod
    def at(cls, data: CaseData) -> SequenceKinkGuard | None:
        """None when the network has no kink (nothing to guard)."""
        spec = data.case.spec
        kinked = any(k in ("relu", "leaky_relu", "maxpool2d") for k in spec.kinds) or spec.loss == "hinge"
        if not kinked:
            return None
        kinks = cls._kinks(data)
        tops = tuple(top for _, top in kinks.leads)
        signs, leads = cls._quantities(kinks, tops)
        finite = leads[np.isfinite(leads)]
        scale = float(max(np.abs(signs).max(initial=0.0), np.abs(finite).max(initial=0.0)))
        return cls(data, signs, tops, leads, scale, data.flat())

    @staticmethod
    def _kinks(data: CaseData) -> torch_layers.Kinks:
        params = data.params
        return torch_layers.kinks_at(data.case.spec, data.x, params.tensors | params.buffers, data.targets)

    @staticmethod
    def _quantities(kinks: torch_layers.Kinks, tops) -> tuple[np.ndarray, np.ndarray]:
        """Every sign quantity, and every lead of the centre's maximum (the centre's winner
        itself and ties of exact zeros set to +inf), as flat float64 vectors."""
        signs = np.concatenate([s.reshape(-1).numpy() for s in kinks.signs] or [np.zeros(0)])
        leads = []
        for (values, _), top in zip(kinks.leads, tops):
            best = values.gather(2, top)
            lead = best - values
            lead = lead.scatter(2, top, float("inf"))
            lead[(best == 0) & (values == 0)] = float("inf")
            leads.append(lead.reshape(-1).numpy())
        return signs, np.concatenate(leads or [np.zeros(0)])

    def bound(self, dtype: str) -> float:
        return ROUNDING * float(np.finfo(dtype).eps) * (1.0 + self.scale)

    @property
    def margin(self) -> float:
        moving = np.abs(self.signs[self.signs != 0])
        return float(min(moving.min(initial=np.inf), self.leads.min(initial=np.inf)))

    def ambiguity(self) -> str:
        bound = self.bound(self.data.case.dtype)
        if self.margin <= bound:
            return (f"a kink quantity (ReLU input, hinge margin or max-pool lead) is {self.margin:.2g} from its "
                    f"kink, within {self.data.case.dtype} rounding ({bound:.2g}) of it, so the gradient may be "
                    f"taken on either side of its kink")
        return ""

    def shift(self, direction: np.ndarray | int, t: float) -> float | None:
        """The largest change of a kink quantity at ``theta + t * direction``; None when one
        changes sign (a max-pool window its winner) or comes within rounding of its kink."""
        point = self.theta.copy()
        if isinstance(direction, (int, np.integer)):
            point[int(direction)] += t
        else:
            point += np.multiply(direction, t, dtype=np.float64)
        signs, leads = self._quantities(self._kinks(self.data.with_flat(point)), self.tops)
        bound = self.bound(str(self.data.dtype))
        moving = self.signs != 0
        if (np.sign(signs[moving]) != np.sign(self.signs[moving])).any() or (np.abs(signs[moving]) <= bound).any():
            return None
        if (leads <= bound).any():
            return None
        changes = [np.abs(signs - self.signs).max(initial=0.0)]
        finite = np.isfinite(self.leads)
        changes.append(np.abs(leads[finite] - self.leads[finite]).max(initial=0.0))
        return float(max(changes))
