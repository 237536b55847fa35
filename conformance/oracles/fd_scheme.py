"""The finite-difference stencil and what comes out of it: the nested central differences
(``Scheme``) and their iterations over many probes at once (``nested``), what the checks may
spend per case (``Settings``), and the estimates with their own error bounds (``Estimate``,
``Estimates``). ``finite_difference`` applies them to an implementation's objective.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from conformance.running.driver import ImplementationFault

#: Largest initial step. Kinks do not need a smaller cap: the kink guard shrinks any step
#: whose stencil would cross one. It binds only float32's order-4 step (2 eps^(1/5) = 0.083);
#: a cap of 0.01 there cost 8x in rounding error: over the smooth cases of the grid, the
#: float32 directional error was median 1.6e-5, worst 2.7e-4 at 0.01, and is median 1.9e-6,
#: worst 1.3e-5 (the scheme's floor: 2.9e-6) at 0.083, every error bound still holding.
MAX_STEP = 1e-1


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
        """Multiples of the initial step evaluated in ``iteration`` (0-based), negative side first
        (read-only: made once per scheme, asked for at every probe)."""
        return _offsets(self.order, self.step_factor, iteration)

    def all_offsets(self) -> np.ndarray:
        """Every iteration's ``offsets``, in order (read-only)."""
        return _all_offsets(self.order, self.step_factor, self.iterations)

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


@functools.cache
def _offsets(order: int, step_factor: float, iteration: int) -> np.ndarray:
    terms, c = order // 2, step_factor
    steps = 1.0 / c ** np.arange(terms) if iteration == 0 else np.array([1.0 / c ** (terms - 1 + iteration)])
    offsets = np.concatenate((-steps[::-1], steps))
    offsets.flags.writeable = False
    return offsets


@functools.cache
def _all_offsets(order: int, step_factor: float, iterations: int) -> np.ndarray:
    offsets = np.concatenate([_offsets(order, step_factor, k) for k in range(iterations)])
    offsets.flags.writeable = False
    return offsets


@dataclass(frozen=True)
class Settings:
    """What the finite-difference checks spend per case: ``directions`` derivatives
    along random unit directions (each ``directional_order + 2`` evaluations, in float32
    ``float32_directional_order + 2``) and
    ``entries_per_tensor`` per-entry derivatives per tensor (each ``entry_order + 2``),
    plus one evaluation at the case's point.

    Where the objective is evaluated in float64, each tensor's entries are first probed
    together, along one sparse direction with a coefficient per entry (up to
    ``together_per_tensor_up_to`` flat entries); one by one, which names the wrong one, only
    where that disagrees.

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
    #: Up to this many flat entries (evaluated in float64), each tensor's entries are first probed
    #: together, along one sparse direction (one estimate where there were ``entries_per_tensor``),
    #: and one by one only when that disagrees or meets a kink. Its direction is sent whole to the
    #: worker: above this size, one per tensor would outweigh the estimates they save.
    together_per_tensor_up_to: int = 20_000
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
