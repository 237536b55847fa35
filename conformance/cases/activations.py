"""The activations the suite knows, in NumPy, for the harness's own bookkeeping.

Implementations under test never use these; the harness needs them to place
generated data away from kinks and to tell when a finite difference crosses one.
"""

from __future__ import annotations

import numpy as np


def apply(name: str, z: np.ndarray) -> np.ndarray:
    """``name`` applied elementwise to ``z``."""
    if name == "identity":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    raise ValueError(f"unknown activation {name!r}")
