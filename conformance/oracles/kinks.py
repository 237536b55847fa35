"""Telling whether a perturbation of the parameters crosses an activation's kink.

A finite difference of a ReLU network is meaningless when a stencil point
puts a pre-activation on the other side of zero. ``KinkGuard`` remembers the
signs of the kinked layers' pre-activations at the case's point and, for a
perturbed point, says whether any sign changed (computed exactly with the
harness's own forward, ``spec.preactivations``) and how far the
pre-activations moved, so the rows can report the margin the estimate had.

"The other side" is judged with rounding in mind: an implementation computing
in float32 puts a pre-activation anywhere within its rounding bound
(``rounding_bounds``) of the exact value, so a pre-activation closer to zero
than that bound has no side one can rely on, neither at a stencil point nor
at the case's point itself (where the implementation's own gradient may then
have been taken on the other side of the kink: ``ambiguity``).

A perturbation along a dense direction needs the whole forward again. A
single entry needs much less, and the per-entry estimates are most of the
probes: an input entry moves one row of the batch; a weight or bias entry of
layer ``l`` moves one column of ``z_l``, hence a rank-one change of
``z_{l+1}``, and only the layers after that are recomputed in full. The
pre-activations found are the same as a full forward's up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.cases.activations import apply
from conformance.cases.spec import CaseData, KINKED_ACTIVATIONS, NetworkSpec, Params
from conformance.cases.mlp_data import preactivations

#: How many times the worst-case rounding bound a pre-activation must keep from a kink
#: to count as on one side. The bound already covers any summation order; the factor
#: covers what it leaves out (an activation taken in a few more operations than ours).
ROUNDING_SAFETY = 2.0


def rounding_bounds(spec: NetworkSpec, params: Params, x: np.ndarray, dtype: str,
                    zs: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """For each layer, a bound on how far a forward computed in ``dtype`` from these (exact)
    numbers may put each pre-activation from its exact value.

    A dot product of n terms carries at most ``gamma_n = n u / (1 - n u)`` times the sum of
    the terms' magnitudes (u the unit roundoff; Higham, Accuracy and Stability of Numerical
    Algorithms, 3.1); the error already in the layer's input passes through ``|W|``. An
    activation adds a few ulps of its value (tanh, sigmoid) and is 1-Lipschitz; a ReLU unit
    safely below its kink outputs an exact zero. ``zs``: the pre-activations at these
    numbers, when the caller has them already.
    """
    u = float(np.finfo(dtype).eps) / 2
    zs = preactivations(spec, params, x) if zs is None else zs
    a, error_a, bounds = np.abs(np.asarray(x, dtype=np.float64)), np.zeros(np.shape(x)), []
    for layer, w, b, z in zip(spec.layers, params.weights, params.biases, zs):
        w = np.abs(np.asarray(w, dtype=np.float64))
        terms = layer.n_in + (b is not None)
        gamma = terms * u / (1 - terms * u)
        magnitude = a @ w.T + (0.0 if b is None else np.abs(np.asarray(b, dtype=np.float64)))
        error_z = gamma * magnitude + error_a @ w.T
        bounds.append(error_z)
        value = apply(layer.activation, z)
        if layer.activation == "relu":
            error_a = np.where(z < -error_z, 0.0, error_z)
        else:
            error_a = error_z + 4 * u * np.abs(value)
        a = np.abs(value)
    return bounds


@dataclass(frozen=True, eq=False)
class Entry:
    """Where a flat index lands: ``input[row, column]``, ``weight[layer][row, column]``
    or ``bias[layer][row]`` (column -1)."""

    kind: str
    layer: int
    row: int
    column: int


@dataclass(frozen=True, eq=False)
class KinkGuard:
    """The kinked layers' pre-activations at ``data``'s point, with their rounding bounds in
    ``data``'s dtype (where finite differences evaluate) and in the case's dtype (where the
    implementation computed its gradient)."""

    data: CaseData
    layers: tuple[int, ...]
    centre: tuple[np.ndarray, ...]
    rounding: tuple[np.ndarray, ...]
    case_rounding: tuple[np.ndarray, ...]
    #: Every layer's pre-activation and output at the case's point (float64), and the flat point.
    zs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]
    theta: np.ndarray

    @classmethod
    def at(cls, data: CaseData) -> KinkGuard | None:
        """None when the network has no kinked activation (nothing to guard). A layer-sequence
        network gets its own guard (``sequence_kinks``), answering the same questions."""
        spec = data.case.spec
        if not isinstance(spec, NetworkSpec):
            from conformance.oracles.sequence_kinks import SequenceKinkGuard

            return SequenceKinkGuard.at(data)
        layers = tuple(i for i, layer in enumerate(spec.layers) if layer.activation in KINKED_ACTIVATIONS)
        if not layers:
            return None
        zs = preactivations(spec, data.params, data.x)

        def bounds(dtype: str) -> tuple[np.ndarray, ...]:
            found = rounding_bounds(spec, data.params, data.x, dtype, zs)
            return tuple(ROUNDING_SAFETY * found[i] for i in layers)

        outputs = tuple(apply(layer.activation, z) for layer, z in zip(spec.layers, zs))
        rounding = bounds(str(data.x.dtype))
        case_rounding = rounding if str(data.x.dtype) == data.case.dtype else bounds(data.case.dtype)
        return cls(data, layers, tuple(zs[i] for i in layers), rounding, case_rounding, tuple(zs), outputs, data.flat())

    @property
    def margin(self) -> float:
        """Smallest distance of a kinked pre-activation from its kink at the case's point.
        Exact zeros that rounding cannot move (a unit fed only by dead units, without bias)
        are left out: no perturbation moves them, and the guard checks that at every point."""
        moving = [np.abs(z)[~((z == 0) & (r == 0))] for z, r in zip(self.centre, self.rounding)]
        return float(min((m.min() for m in moving if m.size), default=np.inf))

    def ambiguity(self) -> str:
        """Why the implementation's gradient at the case's point may belong to either side of a
        kink (a pre-activation within the case dtype's rounding of zero); empty when it cannot."""
        for z, bound in zip(self.centre, self.case_rounding):
            near = (np.abs(z) <= bound) & (bound > 0)
            if np.any(near):
                k = np.unravel_index(int(np.argmax(near)), z.shape)
                return (f"a ReLU pre-activation is {abs(z[k]):.2g} from its kink, within {self.data.case.dtype} "
                        f"rounding ({bound[k]:.2g}) of it, so the gradient may be taken on either side of its kink")
        return ""

    def shift(self, direction: np.ndarray | int, t: float) -> float | None:
        """How far the kinked pre-activations move at ``theta + t * direction`` (a dense
        vector, or the index of one entry), largest change; None when any of them changes
        sign or comes within rounding of its kink."""
        if isinstance(direction, (int, np.integer)):
            return self._entry_shift(int(direction), t)
        point = np.multiply(direction, t, dtype=np.float64)
        point += self.theta  # in place: one vector of the network's size, not two
        moved = self.data.with_flat(point)
        return self._compare(0, preactivations(moved.case.spec, moved.params, moved.x))

    def _compare(self, first: int, after: list[np.ndarray], rows: slice | int = slice(None)) -> float | None:
        """Sign and rounding check, and largest change, of the kinked layers from ``first`` on,
        whose new pre-activations (of ``rows`` of the batch) are ``after[layer - first]``."""
        largest = 0.0
        for layer, before, bound in zip(self.layers, self.centre, self.rounding):
            if layer < first:
                continue
            before, bound, z = before[rows], bound[rows], after[layer - first]
            if (np.sign(before) != np.sign(z)).any() or ((np.abs(z) <= bound) & (bound > 0)).any():
                return None
            largest = max(largest, float(np.abs(z - before).max()))
        return largest

    def locate(self, index: int) -> Entry:
        """Which tensor, and where in it, a flat index of ``CaseData.flat`` falls."""
        offset = 0
        for name, tensor in self.data.tensors().items():
            if index < offset + tensor.size:
                position = np.unravel_index(index - offset, tensor.shape)
                kind = name.split("[")[0]
                layer = int(name[name.index("[") + 1:-1]) if "[" in name else 0
                return Entry(kind, layer, int(position[0]), int(position[1]) if len(position) > 1 else -1)
            offset += tensor.size
        raise IndexError(f"flat index {index} beyond the {offset} parameters")

    def _moved_value(self, index: int, t: float) -> float:
        """The entry's value at the perturbed point, rounded to the data's dtype as
        ``CaseData.with_flat`` rounds it."""
        return float(np.asarray(self.theta[index] + t, dtype=self.data.x.dtype))

    def _entry_shift(self, index: int, t: float) -> float | None:
        entry, value = self.locate(index), self._moved_value(index, t)
        spec, params = self.data.case.spec, self.data.params
        if entry.kind == "input":
            row = np.asarray(self.data.x[entry.row], dtype=np.float64).copy()
            row[entry.column] = value
            return self._compare(0, [z[0] for z in preactivations(spec, params, row[None, :])], entry.row)
        layer, unit = entry.layer, entry.row
        below = np.asarray(self.data.x, dtype=np.float64) if layer == 0 else self.outputs[layer - 1]
        weights = np.asarray(params.weights[layer][unit], dtype=np.float64).copy()
        bias = params.biases[layer]
        offset = 0.0 if bias is None else float(bias[unit])
        if entry.kind == "weight":
            weights[entry.column] = value
        else:
            offset = value
        return self._from_column(layer, unit, below @ weights + offset)

    def _from_column(self, layer: int, unit: int, column: np.ndarray) -> float | None:
        """The kinked layers from ``layer`` on, when only ``z_layer[:, unit]`` became ``column``."""
        spec, params = self.data.case.spec, self.data.params
        z = self.zs[layer].copy()
        z[:, unit] = column
        after = [z]
        if layer + 1 < spec.depth:
            change = apply(spec.layers[layer].activation, column) - self.outputs[layer][:, unit]
            upper = np.asarray(params.weights[layer + 1][:, unit], dtype=np.float64)
            after.append(self.zs[layer + 1] + np.outer(change, upper))
            a = apply(spec.layers[layer + 1].activation, after[-1])
            for higher in range(layer + 2, spec.depth):
                w, b = params.weights[higher], params.biases[higher]
                after.append(a @ np.asarray(w, dtype=np.float64).T
                             + (0.0 if b is None else np.asarray(b, dtype=np.float64)))
                a = apply(spec.layers[higher].activation, after[-1])
        return self._compare(layer, after)
