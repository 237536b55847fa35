"""What an oracle answers for one case: output, loss and gradients, in float64 and canonical layout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.contract.adapter import Gradients


@dataclass(frozen=True, eq=False)
class Reference:
    """The oracle's answer for one case, in float64 and canonical layout."""

    output: np.ndarray
    loss: float | None
    gradients: Gradients
