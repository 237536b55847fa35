"""What the finite-difference checks of one case probe, chosen before any objective value
is asked (``ProbePlan``): the random directions, the entries of each tensor (first the one that
disagrees most with PyTorch: ``entries_to_probe``) and, on a large case, the sparse direction
that stands for them all. Knowing every point ahead lets them be asked in one request
(``FiniteDifferences.ask_ahead``); ``fd_checks`` judges the estimates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from conformance.cases.spec import CaseData, rng_for
from conformance.contract.adapter import Gradients
from conformance.judge.compare import worst_index
from conformance.oracles.finite_difference import FiniteDifferences, directions, flat_offsets

if TYPE_CHECKING:
    from conformance.oracles.fd_checks import Judged


@dataclass(frozen=True, eq=False)
class ProbePlan:
    """What the checks of one case will probe, chosen before any objective value is asked:
    the random directions (none where ``v·grad`` cannot be formed), the entries of each
    tensor, and on a large case the sparse direction that stands for them all (``together``:
    its coefficients and the direction)."""

    vectors: list[np.ndarray]
    picks: dict[str, list[int]]
    together: tuple[np.ndarray, np.ndarray] | None
    #: On a smaller case evaluated in float64, each tensor's entries probed together first
    #: (``fd_checks._entry_rows``): by tensor, the coefficients and the sparse direction; a tensor
    #: of one entry is not here.
    per_tensor: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def of(cls, fd: FiniteDifferences, judged: Judged, reference: Gradients | None) -> ProbePlan:
        settings = fd.settings
        vectors = list(directions(fd.data, settings.directions, include_input="input" in judged.shapes)) \
            if settings.directions and not judged.problems else []
        picks, together, per_tensor = {}, None, {}
        if settings.entries_per_tensor:
            count = settings.entries_for(fd.theta.size)
            picks = {t: entries_to_probe(fd.data, t, g, reference, count) for t, g in judged.grads.items()}
            if count == 1 and fd.theta.size >= settings.large_case and not judged.problems and len(picks) > 1:
                together = together_direction(fd, picks, "fd_entry/together")
            elif fd.dtype == "float64" and fd.theta.size <= settings.together_per_tensor_up_to:
                per_tensor = {t: together_direction(fd, {t: chosen}, f"fd_entry/{t}/together")
                              for t, chosen in picks.items() if len(chosen) > 1}
        return cls(vectors, picks, together, per_tensor)

    def flat_indices(self, fd: FiniteDifferences, tensors=None) -> list[int]:
        """The picked entries' indices into the flat vector (of ``tensors`` only, when given)."""
        offsets = flat_offsets(fd.data)
        return [offsets[t] + i for t, chosen in self.picks.items() if tensors is None or t in tensors
                for i in chosen]

    def points(self, fd: FiniteDifferences) -> list:
        """Every point the plan's estimates ask for (``FiniteDifferences.planned``)."""
        if self.together is not None:
            entries = fd.planned([self.together[1]], "entry")
        else:
            alone = [t for t in self.picks if t not in self.per_tensor]
            entries = (fd.planned([direction for _, direction in self.per_tensor.values()], "entry")
                       + fd.planned(self.flat_indices(fd, alone), "entry"))
        return fd.planned(self.vectors, "directional") + entries


def together_direction(fd: FiniteDifferences, picks: dict[str, list[int]], purpose: str
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients (magnitude 0.5 to 1, a sign, from the case's seed and ``purpose``) of
    the entries ``picks`` names, tensor by tensor, and the sparse direction that holds them
    (``_probed_together``)."""
    offsets = flat_offsets(fd.data)
    flat = [offsets[tensor] + index for tensor, chosen in picks.items() for index in chosen]
    rng = rng_for(fd.data.case, purpose)
    coefficients = (rng.uniform(0.5, 1.0, len(flat)) * rng.choice([-1.0, 1.0], len(flat))).astype(np.float32)
    direction = np.zeros(fd.theta.size, dtype=np.float32)
    direction[flat] = coefficients
    return coefficients, direction


def entries_to_probe(data: CaseData, tensor: str, grad: np.ndarray, reference: Gradients | None,
                     count: int) -> list[int]:
    """Flat indices into ``tensor``: first the one that disagrees most with PyTorch
    (or, without PyTorch, the largest), then distinct ones drawn from the case's seed."""
    count = min(count, grad.size)
    want = None if reference is None else reference.tensors().get(tensor)
    if want is not None and np.shape(want) == grad.shape:
        worst = worst_index(grad, want, data.case.dtype)
        first = int(np.ravel_multi_index(worst, grad.shape)) if worst else 0
    else:
        first = int(np.argmax(np.abs(grad)))
    rng = rng_for(data.case, f"fd_entry/{tensor}")
    drawn = [int(i) for i in rng.choice(grad.size, count, replace=False) if i != first]
    return ([first] + drawn)[:count]
