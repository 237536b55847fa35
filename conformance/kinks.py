"""Telling whether a perturbation of the parameters crosses an activation's kink.

A finite difference of a ReLU network is meaningless when a stencil point
puts a pre-activation on the other side of zero. ``KinkGuard`` remembers
every layer's pre-activations at the case's point and, for a perturbed point,
says whether any kinked layer's pre-activation changed sign (computed with
the harness's own forward, ``spec.preactivations``) and how far the kinked
pre-activations moved, so the rows can report the margin the estimate had.

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

from conformance.activations import apply
from conformance.spec import KINKED_ACTIVATIONS, CaseData, preactivations


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
    """Every layer's pre-activations (and outputs) at ``data``'s point, in float64."""

    data: CaseData
    layers: tuple[int, ...]
    zs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]
    theta: np.ndarray

    @classmethod
    def at(cls, data: CaseData) -> KinkGuard | None:
        """None when the network has no kinked activation (nothing to guard)."""
        spec = data.case.spec
        layers = tuple(i for i, layer in enumerate(spec.layers) if layer.activation in KINKED_ACTIVATIONS)
        if not layers:
            return None
        zs = tuple(preactivations(spec, data.params, data.x))
        outputs = tuple(apply(layer.activation, z) for layer, z in zip(spec.layers, zs))
        return cls(data, layers, zs, outputs, data.flat())

    @property
    def centre(self) -> tuple[np.ndarray, ...]:
        """The kinked layers' pre-activations at the case's point."""
        return tuple(self.zs[i] for i in self.layers)

    @property
    def margin(self) -> float:
        """Smallest distance of a kinked pre-activation from its kink at the case's point."""
        return float(min(np.abs(z).min() for z in self.centre))

    def shift(self, direction: np.ndarray | int, t: float) -> float | None:
        """How far the kinked pre-activations move at ``theta + t * direction`` (a dense
        vector, or the index of one entry), largest change; None when any of them changes
        sign (crosses or touches the kink)."""
        if isinstance(direction, (int, np.integer)):
            return self._entry_shift(int(direction), t)
        moved = self.data.with_flat(self.theta + t * direction)
        return self._compare(0, preactivations(moved.case.spec, moved.params, moved.x))

    def _compare(self, first: int, after: list[np.ndarray], rows: slice | int = slice(None)) -> float | None:
        """Sign check and largest change of the kinked layers from ``first`` on, whose new
        pre-activations (of ``rows`` of the batch) are ``after[layer - first]``."""
        largest = 0.0
        for layer in self.layers:
            if layer < first:
                continue
            before, now = self.zs[layer][rows], after[layer - first]
            if np.any(np.sign(before) != np.sign(now)):
                return None
            largest = max(largest, float(np.abs(now - before).max()))
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
        column = below @ weights + offset
        return self._from_column(layer, unit, column)

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
