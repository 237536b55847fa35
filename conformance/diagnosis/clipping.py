"""Clipping inside backward: a returned gradient whose wrong elements are all exactly ±c, and
which is the due gradient clipped to [−c, c] (the clip threshold fitted: the largest
magnitude returned).
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def clip_of(seen: np.ndarray, due: np.ndarray, agree: Callable[[np.ndarray, np.ndarray], bool]) -> float | None:
    """The threshold c with ``seen`` = ``due`` clipped to [−c, c] (``agree`` deciding), where at
    least one element was clipped by more than rounding; None otherwise."""
    if seen.shape != due.shape or seen.size == 0:
        return None
    c = float(np.max(np.abs(seen)))
    clipped = np.clip(due, -c, c)
    if c == 0 or agree(clipped, due) or not agree(seen, clipped):
        return None
    return c
