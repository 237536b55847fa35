"""The finite-difference oracle: derivatives of an implementation's own objective.

The PyTorch oracle says whether an implementation computes the intended
function's gradient; this one says whether its backward is the derivative of
its own forward, with no second implementation involved. The objective is
the implementation's ``<upstream, forward(x)>`` (VJP case) or its own loss
(loss case), evaluated through its driver at points ``theta + t * direction``
of the flat parameter vector (input, weights, biases: ``CaseData.flat``).

Two kinds of estimate:

* along dense unit directions (``directions``): ``d/dt f(theta + t v)`` at 0,
  to compare with ``v . grad``; the cost does not grow with the parameters;
* along single entries: ``d f / d theta_i``, to pin a failure to an element.

Every estimate comes with a bound on its own error (``Estimate.error``):
the change between the estimates at the last two step sizes (which
over-states the error of the final, higher-order estimate) plus a floor for
the rounding of the objective's values, ``(ROUNDING_FACTOR * max|f| +
TERMS_FACTOR * terms) * eps / h_min``, where ``terms`` is the size of what the
value is computed from (``value_terms``: cancellation leaves it far above |f|).
The objective is evaluated in float64 wherever the implementation
accepts it (a float32 case is differentiated at its own, rounded numbers);
otherwise in float32, with steps chosen for float32.

Kinks: before the implementation is asked anything, the harness's own
forward checks the stencil's extreme points (``KinkGuard``). A step that
would carry a ReLU pre-activation across zero (or within rounding of it) is
shrunk; if even the smallest allowed step crosses, the estimate is marked
unreliable (never a failure), as is every estimate of a case whose point
lies within the case dtype's rounding of a kink. The margin and the largest
pre-activation change are reported.

The stencil and its estimates are ``fd_scheme``'s.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from conformance.contract.adapter import Capabilities
from conformance.running.driver import ImplementationFault, Probe
from conformance.running.protocol import ImplementationDriver
from conformance.oracles.kinks import KinkGuard
from conformance.cases.spec import CaseData, rng_for
from conformance.oracles.fd_scheme import Estimate, Estimates, Scheme, Settings, nested

#: A step that would cross a kink is divided by ``SHRINK``, at most ``SHRINKS`` times: float32's
#: directional step ends at 1.6e-4, float64's at 2.9e-6, where rounding still leaves the
#: estimates' error bounds well below a factor error (and the bounds say so).
SHRINK, SHRINKS = 8.0, 3
#: Rounding error of one objective value, in units of ``eps * max|f|``.
#: Generous: an objective of a few layers sums O(10) rounded terms, and a
#: float32 evaluation also rounds the perturbed point itself.
ROUNDING_FACTOR = 64.0
#: Rounding error of one objective value, in units of ``eps * terms`` (``value_terms``): the
#: size of what the value is computed from, which cancellation can leave far above |f|.
TERMS_FACTOR = 4.0
SQUARED_LOSS_SCALE = {"sse": 2.0, "half_sse": 1.0, "mse": 2.0, "half_mse": 1.0}


def value_terms(data: CaseData, output: object) -> float:
    """The size of the terms the objective's value is made of, from the implementation's own
    output at the case's point (0 when it returned none usable). A VJP's value sums
    ``upstream · output`` terms of both signs; a cross-entropy of 1e-3 is the difference of a
    log-sum-exp and a logit near 5; a squared error rounds ``output − target`` at the size of
    both. Rounding moves the value by a few eps of this, however small |f| is."""
    loss = data.case.spec.loss
    y = np.asarray(output, dtype=np.float64) if isinstance(output, np.ndarray) else None
    if y is None or y.shape != data.upstream.shape or not np.all(np.isfinite(y)):
        return 0.0
    if loss is None:
        return float(np.sum(np.abs(data.upstream * y)))
    rows = y.reshape(y.shape[0], -1)
    if loss in SQUARED_LOSS_SCALE:
        t = np.asarray(data.targets, dtype=np.float64).reshape(rows.shape)
        total = SQUARED_LOSS_SCALE[loss] * float(np.sum((np.abs(rows) + np.abs(t)) * np.abs(rows - t)))
        return total / rows.size if loss.endswith("mse") else total
    # cross-entropy and the other classification losses: differences of terms as large as the logits
    return float(np.mean(np.abs(rows).sum(axis=1) + np.abs(rows).max(axis=1)))


def evaluation_dtype(capabilities: Capabilities) -> str:
    """float64 wherever the implementation accepts it."""
    return "float64" if "float64" in capabilities.dtypes else "float32"


def directions(data: CaseData, count: int, include_input: bool = True) -> np.ndarray:
    """``count`` random unit vectors over the flat parameters, from the case's seed.

    Each tensor gets an equal share of a direction's length, so a wrong bias
    gradient is not drowned by a million weight entries; without
    ``include_input`` the input's share is zero. Entries are uniform on [-1, 1)
    before scaling: like a normal draw, a continuous one makes ``v . (wrong - right)``
    zero with probability 0 for any wrong gradient, and it costs a fifth of one
    (1.7 against 8.3 ms per 10^6 entries, which was two floors of a 10^6 check).
    Stored in float32, half the memory: a direction's entries are exact in float64,
    where the points ``theta + t v`` and the products ``v . grad`` are formed, so
    nothing is rounded that a float64 direction would keep (it is only less uniform
    on the unit sphere, which nothing relies on).
    """
    rng = rng_for(data.case, "fd_directions")
    tensors = {name: t for name, t in data.tensors().items() if include_input or name != "input"}
    share = 1.0 / np.sqrt(len(tensors))
    vectors = np.zeros((count, sum(t.size for t in data.tensors().values())), dtype=np.float32)
    for vector in vectors:
        offset = 0
        for name, tensor in data.tensors().items():
            if name in tensors:
                piece = vector[offset:offset + tensor.size]
                rng.random(dtype=np.float32, out=piece)
                piece -= np.float32(0.5)
                piece *= np.float32(share / float(np.linalg.norm(piece.astype(np.float64))))
            offset += tensor.size
    return vectors


def flat_offsets(data: CaseData) -> dict[str, int]:
    """Where each tensor starts in the flat parameter vector."""
    offsets, offset = {}, 0
    for name, tensor in data.tensors().items():
        offsets[name] = offset
        offset += tensor.size
    return offsets


class FiniteDifferences:
    """Finite differences of one implementation's objective at one case's point.

    Holds the point (in the evaluation dtype), the kink guard, every objective value
    asked so far (the one at the point shared by every estimate; ``ask_ahead`` fills
    it with a case's planned points in one request) and a count of the objective
    evaluations spent.
    """

    def __init__(self, driver: ImplementationDriver, data: CaseData, settings: Settings = Settings(),
                 dtype: str | None = None, output: object = None):
        self.driver, self.settings = driver, settings
        #: ``value_terms`` of the implementation's output at the point (``output``, when given).
        self.terms = value_terms(data, output)
        self.dtype = dtype or evaluation_dtype(driver.capabilities)
        # The case's own data when already in that dtype: a worker then holds it from observe.
        self.data = data if str(data.dtype) == self.dtype else data.astype(self.dtype)
        self.theta = self.data.flat()
        self.guard = KinkGuard.at(self.data)
        self.evaluations = 0
        self._centre: float | None = None
        #: Objective values asked so far: by probe (``_key``), the probe (held, so that no id is
        #: reused) and its value at each step.
        self._known: dict[int | tuple[str, int], tuple[np.ndarray | int, dict[float, float]]] = {}
        #: ``_safe_step``'s answers, by probe and step (the kink guard runs a forward per answer).
        self._safe: dict[tuple, tuple[np.ndarray | int, tuple[float, float] | str]] = {}

    @property
    def margin(self) -> float:
        return self.guard.margin if self.guard else float("inf")

    @property
    def objective_dtype(self) -> str:
        """The precision the objective's values carry: the evaluation dtype, unless the value at
        the case's point is a float32 number in a float64 evaluation (a loss computed in float32,
        an output returned in float32: a float64 value is one with probability 2^-29). Then the
        steps and the rounding allowance are float32's: a float64 bound on float32 values claims
        an accuracy the values do not have (on a float32 loss, 5.6e-9 claimed where the error
        was 2.7e-3). A float64 objective that happens to be a float32 number only gets the wider
        float32 bound: never a false failure."""
        centre = self.centre()
        if self.dtype == "float64" and centre != 0 and float(np.float32(centre)) == centre:
            return "float32"
        return self.dtype

    def along(self, vectors: np.ndarray | Sequence[np.ndarray], kind: str = "directional") -> Estimates:
        """Derivatives along dense directions (rows of ``vectors``), with the scheme of
        ``kind`` (``entry``: for a sparse direction standing for a few entries). Values asked
        ahead are found by direction: pass the same arrays that were ``planned``."""
        return self._estimates(list(vectors), self.settings.scheme(kind, self.objective_dtype))

    def at_entries(self, indices: Sequence[int]) -> Estimates:
        """Derivatives with respect to single entries of the flat parameter vector."""
        return self._estimates([int(i) for i in indices], self.settings.scheme("entry", self.objective_dtype))

    def planned(self, probes: Sequence[np.ndarray | int], kind: str) -> list[Probe]:
        """The points ``along`` (``at_entries`` for ``entry`` indices) will ask for ``probes``, as
        known before any value: every iteration's, at the steps the kink guard allows, under the
        evaluation dtype's scheme. (An objective whose values turn out to be float32 numbers in a
        float64 evaluation gets float32's scheme: its points are asked when the estimates are made.)"""
        scheme = self.settings.scheme(kind, self.dtype)
        safe = [(p, self._safe_step(p, scheme.initial_step)) for p in probes]
        return [Probe(p, _grid(s[0], scheme)) for p, s in safe if not isinstance(s, str)]

    def ask_ahead(self, probes: list[Probe]) -> None:
        """The objective at the case's point and at ``probes``, in one request, kept for the
        estimates. A fault is left for the estimates to meet: they ask for their own points as
        without this request, so an implementation that fails at some points and not others
        fails the same checks."""
        try:
            self._evaluate([_CENTRE] + probes)
        except ImplementationFault:
            pass

    def _safe_step(self, direction: np.ndarray | int, step: float) -> tuple[float, float] | str:
        """The largest step (from ``step`` down) whose stencil crosses no kink, with the
        largest pre-activation change it causes; or why there is none."""
        key = (_key(direction), step)
        if key not in self._safe:  # the direction held with the answer, so that its id is not reused
            self._safe[key] = (direction, self._safe_step_uncached(direction, step))
        return self._safe[key][1]

    def _safe_step_uncached(self, direction: np.ndarray | int, step: float) -> tuple[float, float] | str:
        if self.guard is None:
            return step, 0.0
        if reason := self.guard.ambiguity():
            return reason
        for _ in range(SHRINKS + 1):
            shifts = [self.guard.shift(direction, s) for s in (step, -step)]
            if None not in shifts:
                return step, max(shifts)
            step /= SHRINK
        return (f"a ReLU pre-activation crosses its kink even at step {step * SHRINK:.2g} "
                f"(margin {self.margin:.2g} at the case's point)")

    def _evaluate(self, probes: list[Probe]) -> list[np.ndarray]:
        """The objective at every probe's points: those asked before from what was kept, the
        others in one request."""
        missing = [p for p in probes if not self._has(p)]
        if missing:
            values = self.driver.evaluate(self.data, missing)
            self.evaluations += sum(np.size(p.steps) for p in missing)
            for probe, found in zip(missing, values):
                kept = self._known.setdefault(_key(probe.direction), (probe.direction, {}))[1]
                kept.update(zip(np.ravel(probe.steps).tolist(), np.asarray(found, dtype=np.float64).ravel().tolist()))
        return [np.array([self._known[_key(p.direction)][1][s] for s in np.ravel(p.steps).tolist()],
                         dtype=np.float64).reshape(np.shape(p.steps)) for p in probes]

    def _has(self, probe: Probe) -> bool:
        kept = self._known.get(_key(probe.direction))
        return kept is not None and all(s in kept[1] for s in np.ravel(probe.steps).tolist())

    def centre(self) -> float:
        """The objective at the case's point."""
        if self._centre is None:
            (value,) = self._evaluate([_CENTRE])
            self._centre = float(value.ravel()[0])
            if not np.isfinite(self._centre):
                raise ImplementationFault(f"the objective is {self._centre} at the case's point")
        return self._centre

    def _estimates(self, probes: list[np.ndarray | int], scheme: Scheme) -> Estimates:
        safe = [self._safe_step(d, scheme.initial_step) for d in probes]
        usable = [i for i, s in enumerate(safe) if not isinstance(s, str)]
        results: dict[int, Estimate] = {i: Estimate(np.nan, np.nan, np.nan, unreliable=s)
                                        for i, s in enumerate(safe) if isinstance(s, str)}
        if usable:
            steps = np.array([safe[i][0] for i in usable])
            df, error, largest = self._derivatives([probes[i] for i in usable], steps, scheme)
            eps = float(np.finfo(self.objective_dtype).eps)
            for k, i in enumerate(usable):
                rounding = (ROUNDING_FACTOR * largest[k] + TERMS_FACTOR * self.terms) * eps / \
                    scheme.smallest_step(steps[k])
                results[i] = Estimate(float(df[k]), float(error[k] + rounding), float(steps[k]), safe[i][1])
        return Estimates(tuple(results[i] for i in range(len(probes))), scheme, self.dtype, self.margin,
                         self.objective_dtype)

    def _derivatives(self, probes: list, steps: np.ndarray, scheme: Scheme):
        """``nested`` over values asked for in one request (none when ``ask_ahead`` asked them):
        every iteration's points of every probe depend only on the steps, so they are evaluated
        together (a probe that ``nested`` stops early leaves its later points unused; with the
        default two iterations none does)."""
        centre = self.centre()
        self._evaluate([Probe(p, _grid(s, scheme)) for p, s in zip(probes, steps)])
        return nested(lambda asked: self._evaluate([Probe(p, s) for p, s in asked]), probes, steps, scheme, centre)


#: The case's point itself: entry 0 moved by nothing.
_CENTRE = Probe(0, np.zeros(1))


def _grid(step: float, scheme: Scheme) -> np.ndarray:
    """Every iteration's multiples of ``step``, in the order ``nested`` asks for them."""
    return step * scheme.all_offsets()


def _key(probe: np.ndarray | int) -> int | tuple[str, int]:
    """A probe's identity while its values are looked up: an entry's index, or the direction
    itself (held in ``FiniteDifferences._known``, so that its id is not reused)."""
    return int(probe) if isinstance(probe, (int, np.integer)) else ("direction", id(probe))
