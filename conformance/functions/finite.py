"""Finite differences of a function's own forward, with its kinks found from the forward itself.

The objective is ``g(theta) = Σ_k <upstream_k, output_k>``; its derivative along ``v`` is
``v · grad`` for the right backward. The stencil, its step sizes and the error bound are
the suite's (``oracles.fd_scheme``: ``Scheme``, ``nested``; ``oracles.finite_difference``: the rounding allowance),
evaluated in float64 wherever the function accepts it (a float32 run is differentiated at its
own, rounded numbers).

Kinks (``|x|``, ``relu``, ``max``): no structure says where they are, so the samples say it.
For a smooth ``g``, the second differences ``s(a) = g(a) + g(-a) - 2 g(0)`` shrink fourfold
when ``a`` halves; across a kink at distance ``d`` they shrink about twofold, and the change
between the two step sizes' estimates (the error bound) is of the size of the slope's jump.
A probe showing either is taken again with its step divided by ``SHRINK`` (the kink leaves
the stencil), at most ``SHRINKS`` times, and is then unreliable — left out, never a failure:
the point lies on a kink (``KINK``). As Chainer's ``detect_nondifferentiable``, from the
forward alone, with no input from the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from conformance.oracles.fd_scheme import Estimate, Estimates, Scheme, Settings, nested
from conformance.oracles.finite_difference import ROUNDING_FACTOR, SHRINK, SHRINKS, TERMS_FACTOR

#: A probe whose second differences miss the fourfold shrink by more than this share is kinked.
CURVATURE_SLACK = 0.1
#: A probe whose error bound exceeds this share of its derivative's size is taken again smaller.
ERROR_SHARE = 0.05
KINK = "the forward has a kink within the smallest step of the point"


@dataclass(frozen=True, eq=False)
class Point:
    """Where the finite differences are taken: the inputs, which are differentiated, the
    upstream gradients, the precision the objective is evaluated in."""

    inputs: tuple[np.ndarray, ...]
    differentiable: tuple[bool, ...]
    upstream: tuple[np.ndarray, ...]
    dtype: str

    @property
    def sizes(self) -> list[int]:
        return [x.size for x, d in zip(self.inputs, self.differentiable) if d]


class FunctionDifferences:
    """Estimates of ``g``'s derivative along probes (dense directions or single entries)."""

    def __init__(self, subject, point: Point, settings: Settings = Settings(), outputs=None):
        """``outputs``: the function's outputs at the point, when already computed in the
        evaluation dtype (the objective's value there is then not evaluated again)."""
        self.subject, self.point, self.settings = subject, point, settings
        subject.at(point.inputs, point.differentiable, point.upstream, point.dtype)
        self.evaluations = 0
        if outputs is None:
            (centre,) = self._evaluate([(0, np.zeros(1))])
            self.centre = float(centre[0])
        else:
            self.centre = float(sum(np.sum(np.asarray(o, dtype=np.float64) * u)
                                    for o, u in zip(outputs, point.upstream) if o.dtype.kind == "f"))
        #: Σ|upstream · output|: what the objective's value is summed from (its rounding's size).
        self.terms = 0.0
        self.eps = float(np.finfo(point.dtype).eps)

    def _evaluate(self, asked: list) -> list[np.ndarray]:
        values = self.subject.values(asked)
        self.evaluations += sum(np.size(s) for _, s in asked)
        return [np.asarray(v, dtype=np.float64) for v in values]

    def along(self, probes: Sequence[np.ndarray | int], kind: str = "directional") -> Estimates:
        scheme = self.settings.scheme(kind, self.point.dtype)
        results: dict[int, Estimate] = {}
        pending, step = list(range(len(probes))), scheme.initial_step
        for _ in range(SHRINKS + 1):
            if not pending:
                break
            found = self._once([probes[i] for i in pending], step, scheme)
            pending = [i for i, estimate in zip(pending, found) if _keep(results, i, estimate)]
            step /= SHRINK
        for i in pending:
            results[i] = Estimate(np.nan, np.nan, step * SHRINK, unreliable=KINK + f" (step {step * SHRINK:.2g})")
        return Estimates(tuple(results[i] for i in range(len(probes))), scheme, self.point.dtype, float("inf"),
                         self.point.dtype)

    def _once(self, probes: list, step: float, scheme: Scheme) -> list[Estimate | None]:
        """One estimate per probe at ``step``, or None for a probe that shows a kink."""
        seen: list[dict[float, float]] = [{} for _ in probes]

        def evaluate(asked):  # nested's probes are the positions in ``probes``
            values = self._evaluate([(probes[k], offsets) for k, offsets in asked])
            for (k, offsets), found in zip(asked, values):
                seen[k].update(zip(np.round(offsets / step, 12), found))
            return values

        steps = np.full(len(probes), step)
        df, error, largest = nested(evaluate, list(range(len(probes))), steps, scheme, self.centre)
        found = []
        for k in range(len(probes)):
            rounding = (ROUNDING_FACTOR * largest[k] + TERMS_FACTOR * self.terms) * self.eps
            bound = float(error[k] + rounding / scheme.smallest_step(step))
            kinked = _curvature_breaks(seen[k], self.centre, rounding) or \
                error[k] > ERROR_SHARE * abs(df[k]) + rounding / scheme.smallest_step(step)
            found.append(None if kinked else Estimate(float(df[k]), bound, step))
        return found


def _keep(results: dict[int, Estimate], i: int, estimate: Estimate | None) -> bool:
    """Store a trustworthy estimate; True when the probe must be taken again."""
    if estimate is None:
        return True
    results[i] = estimate
    return False


def _curvature_breaks(samples: dict[float, float], centre: float, rounding: float) -> bool:
    """Whether the second differences at ``a`` and ``a/2`` break the fourfold shrink of a smooth
    function (beyond ``CURVATURE_SLACK`` and the values' rounding)."""
    sizes = sorted({abs(a) for a in samples if a > 0 and -a in samples}, reverse=True)
    for a, half in zip(sizes, sizes[1:]):
        if not np.isclose(half, a / 2):
            continue
        s_a = samples[a] + samples[-a] - 2 * centre
        s_half = samples[half] + samples[-half] - 2 * centre
        if abs(s_a - 4 * s_half) > CURVATURE_SLACK * abs(s_a) + 24 * rounding:
            return True
    return False


def unit_direction(rng: np.random.Generator, sizes: Sequence[int], only: int | None = None,
                   within: tuple[int, int] | None = None) -> np.ndarray:
    """A random unit vector over the differentiable inputs (flat, concatenated), each input an
    equal share of its length (a bias is not drowned by a large weight); ``only``: that input
    alone; ``within``: that input's flat entries ``start:stop`` alone."""
    vector = np.zeros(int(sum(sizes)))
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    chosen = range(len(sizes)) if only is None else [only]
    for i in chosen:
        start, stop = (offsets[i], offsets[i + 1]) if within is None else (offsets[i] + within[0],
                                                                          offsets[i] + within[1])
        piece = rng.random(stop - start, dtype=np.float32) - np.float32(0.5)  # a fifth of a float64 draw's time
        vector[start:stop] = piece / (np.linalg.norm(piece.astype(np.float64)) * np.sqrt(len(chosen)) or 1.0)
    return vector
