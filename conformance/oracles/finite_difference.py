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
from conformance.oracles.fd_scheme import Estimate, Estimates, Scheme, Settings

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

    Holds the point (in the evaluation dtype), the kink guard, the objective's
    value at the point (evaluated once, shared by every estimate) and a count
    of the objective evaluations spent.
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

    def along(self, vectors: np.ndarray, kind: str = "directional") -> Estimates:
        """Derivatives along dense directions (rows of ``vectors``), with the scheme of
        ``kind`` (``entry``: for a sparse direction standing for a few entries)."""
        return self._estimates(list(vectors), self.settings.scheme(kind, self.objective_dtype))

    def at_entries(self, indices: Sequence[int]) -> Estimates:
        """Derivatives with respect to single entries of the flat parameter vector."""
        return self._estimates([int(i) for i in indices], self.settings.scheme("entry", self.objective_dtype))

    def _safe_step(self, direction: np.ndarray | int, step: float) -> tuple[float, float] | str:
        """The largest step (from ``step`` down) whose stencil crosses no kink, with the
        largest pre-activation change it causes; or why there is none."""
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
        values = self.driver.evaluate(self.data, probes)
        self.evaluations += sum(np.size(p.steps) for p in probes)
        return [np.asarray(v, dtype=np.float64) for v in values]

    def centre(self) -> float:
        """The objective at the case's point."""
        if self._centre is None:
            (value,) = self._evaluate([Probe(0, np.zeros(1))])
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
        """``nested`` over values asked for in one request: every iteration's points of every
        probe depend only on the steps, so they are evaluated together (a probe that ``nested``
        stops early leaves its later points unused; with the default two iterations none does)."""
        centre = self.centre()
        grids = [np.concatenate([s * scheme.offsets(k) for k in range(scheme.iterations)]) for s in steps]
        found = self._evaluate([Probe(p, g) for p, g in zip(probes, grids)])
        known = {_key(p): dict(zip(g.tolist(), v.ravel().tolist())) for p, g, v in zip(probes, grids, found)}

        def evaluate(asked):
            values = [[known.get(_key(p), {}).get(step) for step in s.tolist()] for p, s in asked]
            if all(None not in v for v in values):
                return [np.asarray(v, dtype=np.float64) for v in values]
            return self._evaluate([Probe(p, s) for p, s in asked])  # not planned: asked as before

        return nested(evaluate, probes, steps, scheme, centre)


def _key(probe: np.ndarray | int) -> int | tuple[str, int]:
    """A probe's identity while its values are looked up: an entry's index, or the direction
    itself (the caller holds every direction until ``nested`` returns)."""
    return int(probe) if isinstance(probe, (int, np.integer)) else ("direction", id(probe))


def nested(evaluate, probes: list, steps: np.ndarray, scheme: Scheme, centre: float):
    """The derivative of ``t -> f(theta + t * probe)`` at 0 for every probe at once, with
    the change from the previous iteration as its error estimate (``Scheme``), one
    ``evaluate`` call per iteration (it takes ``(probe, steps)`` pairs and returns each
    pair's values); also the largest |f| each probe met. ``centre`` is f(theta). The
    network oracle's evaluations go through its driver; a function's (``functions.finite``)
    through the function's subject."""
    largest = np.full(len(probes), abs(centre))
    terms, weights = scheme.order // 2, scheme.weights()
    plus, minus = [], []  # f at +-h/c^j, one column per j, each row a probe
    df = error = np.full(len(probes), np.nan)
    active = np.arange(len(probes))
    for iteration in range(scheme.iterations):
        offsets = scheme.offsets(iteration)
        values = evaluate([(probes[i], steps[i] * offsets) for i in active])
        found = np.full((len(probes), len(offsets)), np.nan)
        found[active] = values
        largest[active] = np.maximum(largest[active], np.max(np.abs(found[active]), axis=1))
        minus += list(found[:, :len(offsets) // 2][:, ::-1].T)
        plus += list(found[:, len(offsets) // 2:].T)
        h = steps / scheme.step_factor ** iteration
        newest = slice(iteration, iteration + terms)
        estimate = weights @ (np.array(plus[newest]) - np.array(minus[newest])) / h
        change = np.abs(estimate - df)
        if not (np.all(np.isfinite(estimate[active])) and np.all(np.isfinite(largest))):
            raise ImplementationFault("the objective is not finite at points within "
                                      f"{float(np.max(steps)):.2g} of the case's point")
        # As scipy: past the second iteration, a probe whose error estimate grew
        # tenfold stops (rounding has taken over), keeping that iteration's estimate.
        grew = change[active] > 10 * error[active] if iteration >= 2 else np.zeros(len(active), bool)
        df, error = df.copy(), error.copy()
        df[active], error[active] = estimate[active], change[active]
        active = active[~grew]
        if not active.size:
            break
    return df, error, largest
