"""Comparing one tensor against its reference: error metrics, tolerances, verdicts.

The tolerance is ``|actual - expected| <= rtol * |expected| + rtol * scale + floor``
elementwise, where ``scale`` is the largest ``|expected|`` in the tensor (in the
spirit of ``torch.testing.assert_close``, whose fixed ``atol`` cannot serve
tensors whose magnitudes range from 1e-6 to 1e3).

Why these numbers:

* float64: an honest implementation's backward through a few small layers
  agrees with float64 autograd to ~1e-15 relative to the tensor's scale.
  ``rtol = 1e-7`` leaves eight orders of magnitude for summation order and
  recovered-from-update gradients while any wrong factor (2, 1/batch, -1),
  transpose or missing term is off by O(1).
* float32: the implementation computes in float32 from float32 inputs, so
  each result carries a few ulps (eps = 1.2e-7) per operation, amplified by
  cancellation in sums over the batch and hidden units. ``rtol = 2e-4``
  (about 1700 ulps, relative to the tensor's largest element) stays clear of
  that, and is still 2500 times smaller than the smallest factor bug the
  suite's grid can produce (a batch of 4 or a factor of 2 is an error of 0.5
  or more).
* The ``scale`` term stops elements that cancel to nearly zero from failing on
  a relative error that means nothing; ``floor`` handles all-zero tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """The suite's one tolerance rule: at each element, ``rtol·|expected| + rtol·scale + floor``
    where ``scale`` is ``max|expected|`` over the tensor."""

    rtol: float
    floor: float

    def allowed(self, magnitude: np.ndarray, scale: float | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """The allowance at each element, given ``|expected|`` (``out``: computed in place there)."""
        scale = float(np.max(magnitude, initial=0.0)) if scale is None else scale
        out = np.multiply(magnitude, self.rtol, out=out)
        out += self.rtol * scale
        out += self.floor
        return out

    def __str__(self) -> str:
        return f"rtol={self.rtol:g} (of |expected| and of max|expected|), floor={self.floor:g}"


TOLERANCES = {
    "float64": Tolerance(rtol=1e-7, floor=1e-12),
    "float32": Tolerance(rtol=2e-4, floor=1e-6),
}


def tolerance_for(dtype: str) -> Tolerance:
    return TOLERANCES[str(np.dtype(dtype))]


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing one tensor with its reference."""

    tensor: str
    passed: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...] | None
    actual: float | None
    expected: float | None
    tolerance: Tolerance
    message: str
    #: Not an answer at all (None, not numeric, NaN or infinite): an error rather than a wrong value.
    fault: bool = False


@dataclass(frozen=True)
class Unusable:
    """Why a returned value is no tensor to compare with its reference."""

    what: str
    #: No answer at all (None, not an array, not numeric, NaN or infinite), not a wrong one
    #: (a wrong shape is a wrong answer).
    fault: bool


def usable(actual: object, shape: tuple[int, ...], dtype: str | None = None) -> np.ndarray | Unusable:
    """The one test of a returned tensor: the array as given, or why it cannot be compared
    (``dtype``, when given, is named as the one due)."""
    if actual is None:
        return Unusable(f"missing (None), expected an array of shape {shape}", True)
    try:
        array = np.asarray(actual)
    except Exception as error:  # an object NumPy cannot convert
        return Unusable(f"not an array ({type(actual).__name__}: {error})", True)
    if array.dtype.kind not in "fiub":
        return Unusable(f"not numeric: dtype {array.dtype}" + (f", expected {dtype}" if dtype else ""), True)
    if array.shape != shape:
        return Unusable(f"shape {array.shape}, expected {shape}", False)
    # A finite sum means every value is finite: one pass instead of a boolean array.
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in the sum is the answer, not a problem
        total = array.sum(dtype=np.float64)
    if not np.isfinite(total):
        finite = np.isfinite(np.asarray(array, dtype=np.float64))
        if not finite.all():
            bad = tuple(int(i) for i in np.argwhere(~finite)[0])
            return Unusable(f"non-finite value {array[bad]} at {list(bad)}", True)
    return array


def mismatch_message(label: str, got: float, against: str, expected: float, error: float, allowed: float,
                     tolerance: object, mismatched: int, total: int) -> str:
    """The one way a comparison reads, at its worst element: both values, the error and what was
    allowed there, the rule; and, when it fails, how many elements fail (as torch.testing says it)."""
    verdict = "within" if error <= allowed else "exceeds"
    text = (f"{label} {got:.8g}, {against} {expected:.8g} "
            f"(|error| {error:.3g} {verdict} tolerance {allowed:.3g}; {tolerance})")
    if mismatched:
        text += f"; mismatched elements: {mismatched} / {total} ({100 * mismatched / total:.1f}%)"
    return text


def worst_index(actual: np.ndarray, expected: np.ndarray, dtype: str) -> tuple[int, ...] | None:
    """Where ``compare`` would find the worst element of two finite arrays of one shape
    (without building its message)."""
    if np.size(expected) == 0:
        return None
    expected = np.asarray(expected, dtype=np.float64)
    excess = np.abs(np.asarray(actual, dtype=np.float64) - expected) / tolerance_for(dtype).allowed(np.abs(expected))
    return first_worst(excess)


#: Errors this close to the largest count as tied with it.
TIE = 1e-6


def first_worst(excess: np.ndarray) -> tuple[int, ...]:
    """The index of the first element whose error is the largest, up to ``TIE``.

    Why not plain argmax: two processes may sum in different orders (one thread or several), so
    two elements with the same error can swap places by an ulp and the worst element would move
    between runs of the same case. Ties are read with a little slack, so the first one wins.
    """
    top = float(np.max(excess))
    if not np.isfinite(top):
        flat = int(np.argmax(excess))
    else:
        flat = int(np.argmax(excess >= top * (1.0 - TIE)))
    return tuple(int(i) for i in np.unravel_index(flat, excess.shape))


def compare(tensor: str, actual: object, expected: np.ndarray, dtype: str, against: str = "expected") -> Comparison:
    """Compare ``actual`` (as returned by an implementation) with ``expected``.

    ``dtype`` is the case's dtype; it sets the tolerance and the least
    precision the result must carry. A wrong shape, a non-floating dtype, a
    lower precision than the case's, or non-finite values fail with a message
    that says what was found and what was due.
    """
    tol = tolerance_for(dtype)
    expected = np.asarray(expected, dtype=np.float64)

    def failed(message: str, fault: bool = False) -> Comparison:
        nan = float("nan")
        return Comparison(tensor, False, nan, nan, None, None, None, tol, f"{tensor}: {message}", fault)

    array = usable(actual, expected.shape, dtype)
    if isinstance(array, Unusable):
        return failed(array.what, fault=array.fault)
    dtype_problem = None
    if array.dtype.kind != "f" or array.dtype.itemsize < np.dtype(dtype).itemsize:
        dtype_problem = f"dtype {array.dtype}, expected {dtype}"
    original_dtype = array.dtype
    array = np.asarray(array, dtype=np.float64)
    if expected.size == 0:
        return Comparison(tensor, dtype_problem is None, 0.0, 0.0, None, None, None, tol, f"{tensor}: empty")
    # In place where possible: three temporaries of the tensor's size, not six.
    diff = np.subtract(array, expected, out=np.empty(expected.shape))
    np.abs(diff, out=diff)
    magnitude = np.abs(expected, out=np.empty(expected.shape))
    scale = float(magnitude.max())
    excess = tol.allowed(magnitude, scale, out=np.empty(expected.shape))
    np.divide(diff, excess, out=excess)
    worst_index = first_worst(excess)
    ratio = float(excess[worst_index])
    max_abs = float(diff.max())
    np.maximum(magnitude, tol.floor, out=magnitude)
    max_rel = float(np.divide(diff, magnitude, out=magnitude).max())
    passed = ratio <= 1.0 and dtype_problem is None
    a, e = float(array[worst_index]), float(expected[worst_index])
    allowed = float(tol.allowed(np.float64(abs(e)), scale))
    where = f"[{', '.join(map(str, worst_index))}]" if worst_index else ""
    mismatched = int(np.count_nonzero(excess > 1.0)) if ratio > 1.0 else 0
    message = mismatch_message(f"{tensor}{where}: got", a, against, e, float(diff[worst_index]), allowed, tol,
                               mismatched, expected.size)
    if dtype_problem:
        message = f"{tensor}: {dtype_problem}; " + message
    elif original_dtype != np.dtype(dtype):
        message += f"; note: returned {original_dtype} for a {dtype} case"
    return Comparison(tensor, passed, max_abs, max_rel, worst_index, a, e, tol, message)
