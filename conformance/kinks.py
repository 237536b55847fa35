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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.activations import apply
from conformance.spec import KINKED_ACTIVATIONS, CaseData, NetworkSpec, Params, preactivations

#: How many times the worst-case rounding bound a pre-activation must keep from a kink
#: to count as on one side. The bound already covers any summation order; the factor
#: covers what it leaves out (an activation taken in a few more operations than ours).
ROUNDING_SAFETY = 2.0


def rounding_bounds(spec: NetworkSpec, params: Params, x: np.ndarray, dtype: str) -> list[np.ndarray]:
    """For each layer, a bound on how far a forward computed in ``dtype`` from these (exact)
    numbers may put each pre-activation from its exact value.

    A dot product of n terms carries at most ``gamma_n = n u / (1 - n u)`` times the sum of
    the terms' magnitudes (u the unit roundoff; Higham, Accuracy and Stability of Numerical
    Algorithms, 3.1); the error already in the layer's input passes through ``|W|``. An
    activation adds a few ulps of its value (tanh, sigmoid) and is 1-Lipschitz; a ReLU unit
    safely below its kink outputs an exact zero.
    """
    u = float(np.finfo(dtype).eps) / 2
    zs = preactivations(spec, params, x)
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
class KinkGuard:
    """The kinked layers' pre-activations at ``data``'s point, with their rounding bounds in
    ``data``'s dtype (where finite differences evaluate) and in the case's dtype (where the
    implementation computed its gradient)."""

    data: CaseData
    layers: tuple[int, ...]
    centre: tuple[np.ndarray, ...]
    rounding: tuple[np.ndarray, ...]
    case_rounding: tuple[np.ndarray, ...]

    @classmethod
    def at(cls, data: CaseData) -> KinkGuard | None:
        """None when the network has no kinked activation (nothing to guard)."""
        spec = data.case.spec
        layers = tuple(i for i, layer in enumerate(spec.layers) if layer.activation in KINKED_ACTIVATIONS)
        if not layers:
            return None
        zs = preactivations(spec, data.params, data.x)

        def bounds(dtype: str) -> tuple[np.ndarray, ...]:
            found = rounding_bounds(spec, data.params, data.x, dtype)
            return tuple(ROUNDING_SAFETY * found[i] for i in layers)

        return cls(data, layers, tuple(zs[i] for i in layers), bounds(str(data.x.dtype)), bounds(data.case.dtype))

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

    def shift(self, theta: np.ndarray) -> float | None:
        """How far the kinked pre-activations move at the flat point ``theta`` (largest change),
        or None when any of them changes sign or comes within rounding of its kink."""
        moved = self.data.with_flat(theta)
        after = preactivations(moved.case.spec, moved.params, moved.x)
        largest = 0.0
        for layer, before, bound in zip(self.layers, self.centre, self.rounding):
            z = after[layer]
            if np.any(np.sign(before) != np.sign(z)) or np.any((np.abs(z) <= bound) & (bound > 0)):
                return None
            largest = max(largest, float(np.abs(z - before).max()))
        return largest
