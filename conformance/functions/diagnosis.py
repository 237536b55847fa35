"""Why a function's gradient is wrong, for the patterns that need no network: a constant factor
(a sign, a mean's 1/N where a sum is due, a factor of 2), a transpose, a missing reduction
over an axis, a missing or zero gradient, a term that one input's gradient alone lacks (the
others agree), and — from repeated calls — a gradient that depends on call history or is
non-deterministic beyond rounding.

``expected`` is what the gradient should be: the reference's, or finite differences of the
function's own forward entry by entry (small inputs); without it, the ratio of ``v · got`` to
the finite difference along ``v`` at two probes (a direction and the localised entry) names a
factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

#: A gradient is ``c`` times the expected one when the rest is below this share of it.
FACTOR_RESIDUAL = 1e-3


@dataclass(frozen=True)
class Finding:
    """What is wrong with one input's gradient, in words."""

    tensor: str
    cause: str


def _factor_name(c: float, sizes: Sequence[int]) -> str:
    """``c`` in words: a sign, zero, or a size of the inputs (1/N, N) or a small ratio."""
    if abs(c) < 1e-12:
        return "is zero where it should not be (the gradient is missing)"
    if abs(c + 1) < 1e-3:
        return "has the wrong sign (×-1)"
    for n in sorted(set(sizes), reverse=True):
        if n > 1 and abs(c * n - 1) < 1e-3:
            return f"is ×{c:.4g} = 1/{n} (a mean over {n} where a sum is due, or a 1/{n} too many)"
        if n > 1 and abs(c / n - 1) < 1e-3:
            return f"is ×{n} (a sum over {n} where a mean is due, or a 1/{n} missing)"
    simple = Fraction(c).limit_denominator(8)
    if abs(c - float(simple)) < 1e-3 * abs(c):
        return f"is ×{simple} (a constant factor)"
    return f"is ×{c:.4g} (a constant factor)"


def constant_factor(got: np.ndarray, expected: np.ndarray) -> float | None:
    """``c`` when ``got ≈ c · expected`` (c ≠ 1) over the whole tensor, else None."""
    e, g = expected.ravel(), got.ravel()
    norm = float(e @ e)
    if norm == 0.0:
        return None
    c = float(g @ e) / norm
    rest = np.linalg.norm(g - c * e)
    if rest <= FACTOR_RESIDUAL * max(np.linalg.norm(g), np.linalg.norm(e)) and abs(c - 1) > 1e-3:
        return c
    return None


def shape_cause(got_shape: tuple[int, ...], shape: tuple[int, ...]) -> str | None:
    """A wrong shape in words: a missing reduction over an axis, or a transpose."""
    if len(got_shape) > len(shape):
        extra = len(got_shape) - len(shape)
        if got_shape[extra:] == shape:
            return f"not summed over the leading axis of size {got_shape[0]} (a missing reduction)"
        for axis in range(len(got_shape)):
            if got_shape[:axis] + got_shape[axis + 1:] == shape:
                return f"not summed over axis {axis} of size {got_shape[axis]} (a missing reduction)"
    if got_shape == shape[::-1] and got_shape != shape:
        return "transposed (its shape is the input's reversed)"
    return None


def tensor_cause(got: np.ndarray, expected: np.ndarray, sizes: Sequence[int]) -> str | None:
    """One wrong gradient against what it should be."""
    if (c := constant_factor(got, expected)) is not None:
        return _factor_name(c, sizes)
    if got.ndim == 2 and got.shape[0] == got.shape[1] and constant_factor(got.T, expected) is None \
            and np.allclose(got.T, expected, rtol=1e-3, atol=1e-3 * float(np.abs(expected).max(initial=0))):
        return "is the transpose of the right one"
    if not np.any(got):
        return "is zero where it should not be (the gradient is missing)"
    flat = np.abs(expected) <= 1e-9 * float(np.abs(expected).max(initial=0))
    if flat.any() and np.any(got[flat]) and np.allclose(got[~flat], expected[~flat], rtol=1e-3,
                                                        atol=1e-6 * float(np.abs(expected).max(initial=0))):
        return ("is non-zero where the forward does not depend on the input (a mask, or a kink's flat side, "
                "is missing from the backward)")
    return None


def ratio_cause(ratios: Sequence[float], sizes: Sequence[int]) -> str | None:
    """A factor from ``v · got / finite difference`` at independent probes, when they agree."""
    ratios = [r for r in ratios if np.isfinite(r)]
    if len(ratios) >= 2 and max(ratios) - min(ratios) <= 1e-3 * max(abs(r) for r in ratios) \
            and abs(ratios[0] - 1) > 1e-3:
        return _factor_name(float(np.mean(ratios)), sizes)
    return None


def describe(findings: Sequence[Finding], wrong: Sequence[str], differentiable: Sequence[str]) -> str:
    """The diagnosis of one run: each wrong gradient's cause, and whether it is alone wrong."""
    parts = [f"{f.tensor}'s gradient {f.cause}" for f in findings]
    unexplained = [t for t in wrong if t not in {f.tensor for f in findings}]
    if len(wrong) == 1 and len(differentiable) > 1:
        others = ", ".join(t for t in differentiable if t != wrong[0])
        parts.append(f"only {wrong[0]}'s gradient is wrong ({others} agree): a term that {wrong[0]}'s gradient "
                     "alone has is missing or wrong" if unexplained else f"only {wrong[0]}'s gradient is wrong")
    elif unexplained and len(wrong) == len(differentiable) > 1:
        parts.append(f"every input's gradient is wrong ({', '.join(unexplained)} by no constant factor, "
                     "transpose or reduction): the part they share (the gradient through the function's "
                     "nonlinearity) is wrong or misses a term")
    elif unexplained:
        parts.append(f"wrong: {', '.join(unexplained)} (no constant factor, transpose or reduction explains it)")
    return "; ".join(parts)


def repeat_cause(first: np.ndarray, again: np.ndarray) -> str:
    """Why a second call at the same point gave another gradient."""
    if (c := constant_factor(again, first)) is not None and abs(c - 2) < 1e-3:
        return ("depends on call history: the second call returned twice the first (gradients accumulate "
                "across calls: += where = is due, or a buffer never reset)")
    return ("depends on call history or is non-deterministic beyond rounding (a cache of an earlier call, "
            "state kept between calls, or randomness)")
