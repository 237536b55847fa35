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

Longer than 300 lines: the stencils, the step sizes, the error estimate and the kink
handling are one oracle whose parts share their arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from conformance.contract.adapter import Capabilities
from conformance.running.driver import ImplementationFault, Probe
from conformance.running.protocol import ImplementationDriver
from conformance.oracles.kinks import KinkGuard
from conformance.cases.spec import CaseData, rng_for

#: Largest initial step. Kinks do not need a smaller cap: the kink guard shrinks any step
#: whose stencil would cross one. It binds only float32's order-4 step (2 eps^(1/5) = 0.083);
#: a cap of 0.01 there cost 8x in rounding error: over the smooth cases of the grid, the
#: float32 directional error was median 1.6e-5, worst 2.7e-4 at 0.01, and is median 1.9e-6,
#: worst 1.3e-5 (the scheme's floor: 2.9e-6) at 0.083, every error bound still holding.
MAX_STEP = 1e-1
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


@dataclass(frozen=True)
class Scheme:
    """Nested central differences, the stencil ``scipy.differentiate.derivative`` uses.

    The first iteration evaluates ``theta ± h / c^j`` for ``j < order / 2`` (c the
    step factor), each later one the pair ``± h / c^(order/2 - 1 + k)``; iteration
    ``k`` estimates with the ``order / 2`` newest pairs, and the error estimate
    is the change from the previous iteration's. So ``order + 2 * (iterations - 1)``
    evaluations give an estimate at the smallest step and an error estimate,
    vectorised over many probes (one driver call per iteration for all of them).

    Why written here rather than calling scipy: scipy's per-call bookkeeping
    (array-API dispatch, masks, result objects) cost about 2 ms per case of the
    default grid (measured: 8.2 ms per case with it, 6.1 ms without, serially on
    a busy machine), half the harness's own time, for arithmetic that is a dot
    product with fixed weights
    (``weights``, solved as scipy solves them; the estimates agree with scipy's to
    rounding). numdifftools' adaptive Richardson extrapolation tries many more
    steps per derivative, which a 10^6-parameter network cannot afford.
    """

    order: int
    initial_step: float
    iterations: int = 2
    step_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.order < 2 or self.order % 2:
            raise ValueError(f"the order of a central difference is even and at least 2, got {self.order}")
        if self.iterations < 2:
            raise ValueError("at least 2 iterations: the error estimate compares the last two")

    @classmethod
    def for_dtype(cls, order: int, dtype: str, iterations: int = 2) -> Scheme:
        """The step that balances truncation (h^order) and rounding (eps/h), capped by ``MAX_STEP``."""
        eps = float(np.finfo(dtype).eps)
        return cls(order, min(2.0 * eps ** (1.0 / (order + 1)), MAX_STEP), iterations)

    @property
    def evaluations(self) -> int:
        """Objective evaluations per estimate (the shared value at the centre not counted)."""
        return self.order + 2 * (self.iterations - 1)

    def smallest_step(self, initial_step: float) -> float:
        """The stencil's point nearest the centre in the last iteration."""
        return initial_step / self.step_factor ** (self.iterations - 2 + self.order // 2)

    def offsets(self, iteration: int) -> np.ndarray:
        """Multiples of the initial step evaluated in ``iteration`` (0-based), negative side first."""
        terms, c = self.order // 2, self.step_factor
        steps = 1.0 / c ** np.arange(terms) if iteration == 0 else np.array([1.0 / c ** (terms - 1 + iteration)])
        return np.concatenate((-steps[::-1], steps))

    def weights(self) -> np.ndarray:
        """Weights of ``f(x + h / c^j) - f(x - h / c^j)``, ``j < order / 2``, in ``f'(x) * h``:
        the central difference of order ``order`` on those nodes (the centre's weight is 0)."""
        terms = self.order // 2
        i = np.arange(-terms, terms + 1)
        nodes = np.sign(i) / self.step_factor ** (np.abs(i) - 1.0)
        rhs = np.zeros(2 * terms + 1)
        rhs[1] = 1.0
        solved = np.linalg.solve(np.vander(nodes, increasing=True).T, rhs)
        return -solved[:terms][::-1]  # exactly antisymmetric, as scipy enforces

    def floor(self, dtype: str) -> float:
        """Theoretical best relative error of the scheme: eps^(order/(order+1))."""
        return float(np.finfo(dtype).eps) ** (self.order / (self.order + 1))

    def __str__(self) -> str:
        return f"order-{self.order} central differences, {self.iterations} step sizes"


@dataclass(frozen=True)
class Settings:
    """What the finite-difference checks spend per case: ``directions`` derivatives
    along random unit directions (each ``directional_order + 2`` evaluations, in float32
    ``float32_directional_order + 2``) and
    ``entries_per_tensor`` per-entry derivatives per tensor (each ``entry_order + 2``),
    plus one evaluation at the case's point.

    From ``large_case`` flat entries on, ``large_entries_per_tensor`` per tensor: the
    first entry probed, the one that disagrees most with PyTorch (the largest without
    PyTorch), is always kept. The others are drawn at random, and a fault confined to a
    few of 10^5 entries is hit by two random draws with probability about 2·10^-5: on a
    large network they cost an evaluation of the whole network each and find nothing the
    kept entry and the directions (which see every entry) do not.
    """

    directions: int = 2
    entries_per_tensor: int = 2
    large_case: int = 100_000
    large_entries_per_tensor: int = 1
    #: Order of the directional estimates taken in float64: order 2's error floor,
    #: eps^(2/3) = 3.7e-11 of the objective's scale, is 2700 times below float64's
    #: rtol of 1e-7, and each estimate's own error bound is added to the tolerance;
    #: order 4 cost two more evaluations of the whole network per direction.
    directional_order: int = 2
    #: In float32, order 2's floor (eps^(2/3) = 2.4e-5) would take an eighth of the
    #: rtol of 2e-4; order 4's is 2.9e-6.
    float32_directional_order: int = 4
    entry_order: int = 2
    iterations: int = 2

    def __post_init__(self) -> None:
        if self.directions < 0 or self.entries_per_tensor < 0 or self.large_entries_per_tensor < 1:
            raise ValueError("directions and entries per tensor cannot be negative, and a large case "
                             "keeps at least the entry that disagrees most with PyTorch")
        for order in (self.directional_order, self.float32_directional_order, self.entry_order):
            Scheme(order, MAX_STEP, self.iterations)  # validates order and iterations

    def entries_for(self, flat_size: int) -> int:
        """Per-entry derivatives per tensor on a case with ``flat_size`` flat entries."""
        if flat_size >= self.large_case:
            return min(self.entries_per_tensor, self.large_entries_per_tensor)
        return self.entries_per_tensor

    def scheme(self, kind: str, dtype: str) -> Scheme:
        if kind == "directional":
            order = self.directional_order if dtype == "float64" else self.float32_directional_order
        else:
            order = self.entry_order
        return Scheme.for_dtype(order, dtype, self.iterations)


@dataclass(frozen=True)
class Estimate:
    """One derivative of the objective, or why there is no trustworthy one."""

    derivative: float
    #: Bound on |derivative - exact derivative of the implementation's objective|.
    error: float
    #: Initial step actually used (shrunk where the first choice would cross a kink).
    step: float
    #: Largest change of a kinked pre-activation at the stencil's extreme points (0 without kinks).
    shift: float = 0.0
    #: Why this estimate cannot be trusted; empty when it can.
    unreliable: str = ""


@dataclass(frozen=True)
class Estimates:
    """Estimates along several probes, with the scheme and the dtype they were taken in."""

    estimates: tuple[Estimate, ...]
    scheme: Scheme
    dtype: str
    #: Distance of the kinked pre-activations from their kinks at the case's point (inf without).
    margin: float
    #: The precision of the objective's values (``FiniteDifferences.objective_dtype``).
    objective_dtype: str = ""

    def __len__(self) -> int:
        return len(self.estimates)

    def __getitem__(self, i: int) -> Estimate:
        return self.estimates[i]

    def part(self, start: int, stop: int) -> Estimates:
        """The estimates ``start:stop`` (e.g. one tensor's entries)."""
        return Estimates(self.estimates[start:stop], self.scheme, self.dtype, self.margin, self.objective_dtype)

    @property
    def evaluations(self) -> int:
        """Objective evaluations these estimates cost (the shared one at the centre not counted)."""
        return self.scheme.evaluations * sum(not e.unreliable for e in self.estimates)

    def describe(self) -> str:
        """How the estimates were taken and what margin from the kinks they kept."""
        steps = sorted({e.step for e in self.estimates if not e.unreliable})
        step = (f"step {steps[0]:.2g}" if len(steps) == 1
                else f"steps {steps[0]:.2g}..{steps[-1]:.2g}" if steps else "no step")
        text = f"{self.scheme}, {step}, in {self.dtype}, {self.evaluations} evaluations"
        if self.objective_dtype and self.objective_dtype != self.dtype:
            text += (f"; the objective's values are {self.objective_dtype} numbers, so steps and error bound "
                     f"are {self.objective_dtype}'s")
        if np.isfinite(self.margin):
            shift = max((e.shift for e in self.estimates if not e.unreliable), default=0.0)
            text += f"; ReLU margin {self.margin:.3g}, stencil moved pre-activations by ≤ {shift:.2g}"
        return text


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
        self.data = data if str(data.x.dtype) == self.dtype else data.astype(self.dtype)
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
        """The derivative of ``t -> f(theta + t * probe)`` at 0 for every probe at once, with
        the change from the previous iteration as its error estimate (``Scheme``), one
        driver call per iteration; also the largest |f| each probe met."""
        largest = np.full(len(probes), abs(self.centre()))
        terms, weights = scheme.order // 2, scheme.weights()
        plus, minus = [], []  # f at +-h/c^j, one column per j, each row a probe
        df = error = np.full(len(probes), np.nan)
        active = np.arange(len(probes))
        for iteration in range(scheme.iterations):
            offsets = scheme.offsets(iteration)
            values = self._evaluate([Probe(probes[i], steps[i] * offsets) for i in active])
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
