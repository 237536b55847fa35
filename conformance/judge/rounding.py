"""How far two correct runs of one case can differ: the rounding of another summation order.

An implementation that sums in an order that changes from run to run (children kept
in a set, a parallel reduction, a batch reordered) is correct, yet its results
differ in the last bits. Reordering a sum of n terms changes its rounded value by at
most 2·γ(n−1)·Σ|terms| ≈ 2(n−1)·eps·Σ|terms| (twice Higham's bound for one order).
A backward chains such sums layer after layer, so an entry's difference is bounded
by ``2·eps·T·S``: ``T`` the terms met along the way (every layer's inputs, the
batch for a weight or bias gradient, the outputs for the loss) and ``S`` the sum of
magnitudes behind the entry, which ``magnitudes`` computes by running the network
on absolute values (|x|, |W|, |b|, |upstream|, every activation and its derivative
taken as their bound 1 on the slope). ``S`` and not the
entry itself: a bias gradient summing deltas of both signs is far smaller than
what it sums, and its rounding is of the size of the terms. A correct run never exceeds ``S``;
a wrong backward (1 − z² for tanh's derivative at a large pre-activation) may, by far, and its
sums round at its own size: ``S`` is then scaled by how far the tensor's largest value in either
run exceeds the largest ``S``, and is never less than the entry itself. A bound from a correct
network alone called an ulp of such values a stale cache.

The bound is a worst case (rounding errors of random sign grow as √n, not n), and
it stays far below the comparison with PyTorch's tolerance on the grid, so a
difference within it cannot change a verdict; noise of 1e-6 in float64 (1e-4 in
float32) exceeds it by orders of magnitude. Computed only when two runs differ.

``differences`` is the judgement of two runs of one case: bit for bit equal, different
within this bound (a note on the contract row), or beyond it (non-determinism, a
contract failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from conformance.cases.activations import apply
from conformance.cases.spec import CaseData, NetworkSpec
from conformance.cases.mlp_data import preactivations
from conformance.judge.compare import first_worst

if TYPE_CHECKING:  # only its fields are read: an observation of the running stage
    from conformance.running.driver import Observation


def _loss_gradient_magnitude(data: CaseData, output: np.ndarray) -> np.ndarray:
    """A bound on |dL/dy| and on the terms it is computed from, for the case's loss."""
    spec, batch = data.case.spec, data.case.batch
    if spec.loss is None:
        return np.abs(np.asarray(data.upstream, dtype=np.float64))
    if spec.loss == "softmax_cross_entropy":
        return np.full(output.shape, 2.0 / batch)  # |softmax − one-hot| ≤ 2, over the batch
    size = {"sse": 2.0, "half_sse": 1.0, "mse": 2.0 / output.size, "half_mse": 1.0 / output.size}[spec.loss]
    targets = np.asarray(data.targets, dtype=np.float64).reshape(output.shape)
    return size * (np.abs(output) + np.abs(targets))


def _sequence_magnitudes(data: CaseData) -> dict[str, np.ndarray]:
    """A layer-sequence network's Σ|terms|, one coarse bound for every entry: the product over
    its layers of (1 + the largest row sum of |parameter|) times the largest input and
    upstream gradient (norm layers count 10: their inputs are of order one). Coarse, so a
    difference between two runs is more often excused as rounding than for an MLP."""
    largest_input = 0.0 if data.case.spec.integer_input else float(np.abs(data.x).max())  # indices: no magnitude
    scale = (1.0 + largest_input) * (1.0 + float(np.abs(data.upstream).max()))
    for name, tensor in data.params.tensors.items():
        if name.endswith("weight"):  # "3.weight", an attention's "1.in_proj_weight"
            rows = np.abs(np.asarray(tensor, dtype=np.float64)).reshape(len(tensor), -1)
            scale *= 1.0 + float(rows.sum(axis=1).max()) * (10.0 if tensor.ndim == 1 else 1.0)
    found = {name: np.full(np.shape(tensor), scale) for name, tensor in data.tensors().items()}
    found["output"] = np.full(data.case.spec.output_shape(data.case.batch), scale)
    if data.case.spec.loss is not None:
        found["loss"] = np.asarray(scale)
    return found


def magnitudes(data: CaseData) -> dict[str, np.ndarray]:
    """Σ|terms| behind every entry of the output, the loss and every gradient (by tensor name)."""
    spec = data.case.spec
    if not isinstance(spec, NetworkSpec):
        return _sequence_magnitudes(data)
    weights = [np.abs(np.asarray(w, dtype=np.float64)) for w in data.params.weights]
    biases = [0.0 if b is None else np.abs(np.asarray(b, dtype=np.float64)) for b in data.params.biases]
    # Forward: each layer's input carries the rounding of everything summed to make it (a
    # cancellation leaves a small value with a large one), each derivative bounded by 1.
    inputs = [np.abs(np.asarray(data.x, dtype=np.float64))]
    for w, b in zip(weights, biases):
        inputs.append(inputs[-1] @ w.T + b)
    forward = inputs.pop()
    found = {"output": forward}
    output = apply(spec.layers[-1].activation, preactivations(spec, data.params, data.x)[-1])
    grad = _loss_gradient_magnitude(data, np.maximum(np.abs(output), forward))
    if spec.loss is not None:
        found["loss"] = np.asarray(float(np.sum(grad * (forward + 1.0))))
    for i in reversed(range(spec.depth)):
        found[f"weight[{i}]"] = grad.T @ inputs[i]
        if data.params.biases[i] is not None:
            found[f"bias[{i}]"] = grad.sum(axis=0)
        grad = grad @ weights[i]
    found["input"] = grad
    return found


def terms(data: CaseData) -> int:
    """The number of rounded additions along the longest chain of sums in the case."""
    spec = data.case.spec
    if not isinstance(spec, NetworkSpec):
        return sum(t.size for t in data.tensors().values()) + data.case.batch
    widths = sum(layer.n_in + layer.n_out + 1 for layer in spec.layers)
    return widths + data.case.batch + spec.layers[-1].n_out


def allowance(data: CaseData, dtype: np.dtype) -> float:
    """``2·eps·n``: what multiplies an entry's Σ|terms| in the bound, in ``dtype``."""
    return 2.0 * float(np.finfo(dtype).eps) * terms(data)


def observed_arrays(seen: Observation) -> dict[str, object]:
    return {"output": seen.output, "loss": seen.loss} | seen.gradients.tensors()


@dataclass(frozen=True)
class Difference:
    """The largest disagreement between two runs' values of one tensor (relative to what
    rounding allows there), and that allowance."""

    tensor: str
    index: tuple[int, ...]
    first: float
    second: float
    bound: float
    dtype: str

    @property
    def size(self) -> float:
        return abs(self.first - self.second)

    @property
    def within_rounding(self) -> bool:
        return self.size <= self.bound

    def where(self) -> str:
        return f"{self.tensor}{list(self.index)}" if self.index else self.tensor

    def values(self) -> str:
        return f"{self.first:.17g} then {self.second:.17g}"


def precision(values: Sequence[object], case_dtype: str) -> np.dtype:
    """The coarsest floating dtype among returned values and the case's."""
    found = [np.dtype(case_dtype)] + [v.dtype for v in values if isinstance(v, (np.generic, np.ndarray))
                                      and v.dtype.kind == "f"]
    return min(found, key=lambda d: d.itemsize)


class Rounding:
    """What summation order may change in one case's results (``allowance`` × ``magnitudes``),
    computed only when asked: two runs rarely differ."""

    def __init__(self, data: CaseData):
        self.data = data
        self._magnitudes: dict[str, np.ndarray] | None = None

    def allowed(self, tensor: str, dtype: np.dtype, shape: tuple[int, ...], rows_reversed: bool = False,
                seen: Sequence[np.ndarray] = ()) -> np.ndarray:
        """The bound entry by entry (zero for a tensor of a shape the case does not have); each
        entry's Σ|terms| at least its size in the runs ``seen``."""
        magnitude = self._due(tensor)
        if magnitude is None or np.shape(magnitude) not in ((), shape):
            return np.zeros(shape)  # a shape the contract does not expect: no rounding is excused
        if rows_reversed and tensor in ("output", "input"):
            magnitude = magnitude[::-1]
        magnitude = np.broadcast_to(magnitude, shape)
        for values in seen:
            size = np.nan_to_num(np.abs(values), nan=0.0, posinf=0.0)
            beyond = float(size.max(initial=0.0)) / max(float(magnitude.max(initial=0.0)), np.finfo(np.float64).tiny)
            magnitude = np.maximum(magnitude * max(beyond, 1.0), size)
        return allowance(self.data, dtype) * magnitude

    def _shape(self, tensor: str) -> tuple[int, ...]:
        """The shape the case gives ``tensor`` (that of ``_due``'s magnitude, () where it has
        none), known without computing the magnitudes."""
        data = self.data
        if tensor == "output":
            return data.upstream.shape  # the upstream gradient has the output's shape, for every network
        return np.shape(data.tensors().get(tensor)) if tensor != "loss" else ()

    def _due(self, tensor: str) -> np.ndarray | None:
        if self._magnitudes is None:
            self._magnitudes = magnitudes(self.data)
        return self._magnitudes.get(tensor)

    def difference(self, tensor: str, a: object, b: object, rows_reversed: bool = False) -> Difference | None | str:
        """How two runs' values of ``tensor`` differ: None when bit for bit equal, a message
        when their shapes differ, else the worst element against the rounding bound."""
        try:
            a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        except (TypeError, ValueError):
            return None  # not numeric: the comparison with the oracle reports it
        if a_arr.shape != b_arr.shape:
            return f"shapes {a_arr.shape} and {b_arr.shape}"
        if rows_reversed and a_arr.shape != self._shape(tensor):
            return None  # rows of a tensor of the wrong shape mean nothing: its comparison reports it
        # Runs mostly agree bit for bit: the plain comparison first, NaN-aware only when it fails.
        if (a_arr == b_arr).all() or np.array_equal(a_arr, b_arr, equal_nan=True):
            return None
        dtype = precision((a, b), self.data.case.dtype)
        allowed = self.allowed(tensor, dtype, a_arr.shape, rows_reversed, seen=(a_arr, b_arr))
        with np.errstate(over="ignore", invalid="ignore"):  # an infinite gap is the answer, not a problem
            gap = np.where(np.isnan(a_arr) & np.isnan(b_arr), 0.0,
                           np.nan_to_num(np.abs(a_arr - b_arr), nan=np.inf))
            excess = gap / np.maximum(allowed, np.finfo(np.float64).tiny)
        index = first_worst(excess) if excess.ndim else ()
        return Difference(tensor, index, float(a_arr[index]), float(b_arr[index]), float(allowed[index]), str(dtype))


BOUND = "2·eps·n·Σ|terms|, the rounding of another summation order"


def differences(first: Observation, second: Observation, allowance: Rounding
                 ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Tensors that came out differently from two runs of the same case: (violations, notes).
    A difference within the rounding of another summation order is a note, beyond it a violation."""
    violations, notes = [], []
    seen = observed_arrays(second)
    for name, a in observed_arrays(first).items():
        found = allowance.difference(name, a, seen.get(name))
        if found is None:
            continue
        if isinstance(found, str):
            violations.append((name, f"{name}: non-deterministic, two runs of the same case differ ({found})"))
        elif found.within_rounding:
            notes.append((name, f"{name}: not bit-for-bit reproducible: max difference {found.size:.2g} at "
                                f"{found.where()}, within {found.dtype} rounding (bound there {found.bound:.2g} "
                                f"= {BOUND})"))
        else:
            violations.append((name, f"{name}: non-deterministic, two runs of the same case differ beyond rounding: "
                                     f"{found.where()}: {found.values()} (|difference| {found.size:.3g} exceeds "
                                     f"tolerance {found.bound:.3g} in {found.dtype}, {BOUND})"))
    return tuple(violations), tuple(notes)
