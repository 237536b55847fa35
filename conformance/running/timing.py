"""Timing an implementation and PyTorch on the same case, side by side, under one set of rules.

The rules (``Rules``) are the only place that says how a time is measured,
shared by the report and by the pytest-benchmark benchmarks: a few untimed
warm-up calls, then ``repeats`` timed repeats, each made of enough calls to
last ``min_repeat_s`` (so a 10 µs call is not lost in the timer's
resolution). Every call is timed on its own, so work a call needs first (the
forward that a backward differentiates) runs untimed just before it. The
figure reported is the median over the repeats of the time per call, with
the interquartile range as its spread.

*Forward* is the network's forward on the case's input. *Backward* is
``backward(upstream)`` after a fresh forward for a VJP case; for a loss case
it is the implementation's whole ``loss(x, targets)`` call (forward, loss and
gradients), and PyTorch's forward, loss and ``backward()`` likewise.

``side_by_side`` measures the implementation and PyTorch in the same process,
alternating their repeats, so that whatever disturbs the machine during the
measurement disturbs both. It runs wherever the implementation runs (a
driver calls it in the worker process). That process runs NumPy's BLAS and
PyTorch on one thread each (``single_threaded_workers``): with their thread
pools both on, each spins on the cores the other needs, and calls that take
50 µs take 5 ms at random; on one thread the figures repeat to a few percent
and compare the code, not the thread pools.

Longer than 300 lines: the timing rules, the tasks for the implementation and for
PyTorch, and the budget they share.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from conformance.cases.spec import Case, CaseData, NetworkSpec
from conformance.running.threads import THREAD_VARIABLES

PHASES = ("forward", "backward")


@contextlib.contextmanager
def single_threaded_workers() -> Iterator[None]:
    """Processes started meanwhile run BLAS and PyTorch on one thread each."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class Rules:
    """How every time in the suite is measured."""

    warmup: int = 3
    repeats: int = 9
    min_repeat_s: float = 2e-3
    #: Upper bound on the calls of one repeat (a very fast call still ends).
    max_calls: int = 10_000

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.repeats < 1 or self.min_repeat_s < 0 or self.max_calls < 1:
            raise ValueError("timing rules: warmup >= 0, repeats >= 1, min_repeat_s >= 0, max_calls >= 1")


#: Quick rules for smoke runs and tests: medians of 3, 0.5 ms per repeat.
QUICK = Rules(warmup=1, repeats=3, min_repeat_s=5e-4)


@dataclass(frozen=True)
class Measurement:
    """Seconds per call: median and quartiles over the repeats."""

    median_s: float
    q1_s: float
    q3_s: float
    repeats: int
    calls_per_repeat: int

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    @classmethod
    def of(cls, per_call: list[float], calls: int) -> Measurement:
        q1, median, q3 = np.percentile(per_call, [25, 50, 75])
        return cls(float(median), float(q1), float(q3), len(per_call), calls)


@dataclass(frozen=True)
class Timed:
    """One phase of one case: the implementation's measurement and PyTorch's."""

    phase: str
    implementation: Measurement
    torch: Measurement

    @property
    def ratio(self) -> float:
        """How many times slower than PyTorch the implementation is (below 1: faster)."""
        return self.implementation.median_s / self.torch.median_s


@dataclass(frozen=True)
class Task:
    """Something to time; ``setup``, when there is one, runs untimed before each call."""

    call: Callable[[], object]
    setup: Callable[[], object] | None = None


def _one(task: Task) -> float:
    if task.setup is not None:
        task.setup()
    start = time.perf_counter()
    task.call()
    return time.perf_counter() - start


def calls_per_repeat(task: Task, rules: Rules) -> int:
    """Warm up, then count the calls it takes to spend ``min_repeat_s`` (at least one)."""
    for _ in range(rules.warmup):
        _one(task)
    calls, spent = 0, 0.0
    while calls < rules.max_calls and (calls == 0 or spent < rules.min_repeat_s):
        spent += _one(task)
        calls += 1
    return calls


def _repeat(task: Task, calls: int) -> float:
    return sum(_one(task) for _ in range(calls)) / calls


def measure_pair(first: Task, second: Task, rules: Rules) -> tuple[Measurement, Measurement]:
    """Time two things with their repeats alternating, so both see the same machine."""
    calls = calls_per_repeat(first, rules), calls_per_repeat(second, rules)
    a, b = [], []
    for _ in range(rules.repeats):
        a.append(_repeat(first, calls[0]))
        b.append(_repeat(second, calls[1]))
    return Measurement.of(a, calls[0]), Measurement.of(b, calls[1])


def adapter_tasks(adapter, data: CaseData) -> dict[str, Task]:
    """The forward and backward of a built adapter on the case's data (see the module's doc)."""
    adapter.build(data.case.spec, data.params)
    forward = Task(lambda: adapter.forward(data.x))
    if data.case.spec.loss is None:
        backward = Task(lambda: adapter.backward(data.upstream), setup=lambda: adapter.forward(data.x))
    else:
        backward = Task(lambda: adapter.loss(data.x, data.targets))
    return {"forward": forward, "backward": backward}


def torch_tasks(data: CaseData) -> dict[str, Task]:
    """The same network in PyTorch, in the case's dtype, with autograd."""
    import torch

    from conformance.cases.torch_ops import ACTIVATION_FNS, loss_value

    spec, dtype = data.case.spec, getattr(torch, data.case.dtype)
    def tensor(a):
        return torch.tensor(np.asarray(a), dtype=dtype)
    weights = [tensor(w).requires_grad_() for w in data.params.weights]
    biases = [None if b is None else tensor(b).requires_grad_() for b in data.params.biases]
    x, upstream = tensor(data.x).requires_grad_(), tensor(data.upstream)
    targets = torch.as_tensor(np.asarray(data.targets))
    if targets.is_floating_point():
        targets = targets.to(dtype)

    def forward():
        a = x
        for layer, w, b in zip(spec.layers, weights, biases):
            z = a @ w.T if b is None else torch.addmm(b, a, w.T)
            a = ACTIVATION_FNS[layer.activation](z)
        return a

    def clear():
        for t in [x, *weights, *(b for b in biases if b is not None)]:
            t.grad = None

    if spec.loss is None:
        graph = {}

        def setup():
            clear()
            graph["y"] = forward()

        backward = Task(lambda: graph["y"].backward(upstream), setup=setup)
    else:
        backward = Task(lambda: loss_value(spec.loss, forward(), targets).backward(), setup=clear)

    return {"forward": Task(forward), "backward": backward}


def side_by_side(adapter_factory: Callable[[], object], data: CaseData, rules: Rules = Rules()) -> tuple[Timed, ...]:
    """Forward and backward of the implementation and of PyTorch on one case.

    PyTorch runs in the case's dtype on the same numbers, with autograd on
    (its forward records the graph, as a hand-written forward caches what its
    backward needs).
    """
    mine, theirs = adapter_tasks(adapter_factory(), data), torch_tasks(data)
    return tuple(Timed(phase, *measure_pair(mine[phase], theirs[phase], rules)) for phase in PHASES)


#: Hidden widths of the timing cases: parameter counts from tens to a few hundred thousand.
TIMING_WIDTHS = (4, 32, 256)
TIMING_BATCH = 32


def scaled(case: Case, width: int, batch: int = TIMING_BATCH) -> Case:
    """The case's network with every layer ``width`` wide, at ``batch``."""
    spec = case.spec
    sizes = [width] * (spec.depth + 1)
    layers = tuple(type(layer)(n_in, n_out, layer.activation, layer.bias)
                   for layer, n_in, n_out in zip(spec.layers, sizes, sizes[1:]))
    return Case(NetworkSpec(layers, spec.loss), batch, case.dtype, case.seed)


#: Which of the cases an implementation ran stands for its depth when timing: a VJP
#: case, with biases, of a typical hidden activation.
_PREFERRED_ACTIVATIONS = ("tanh", "relu", "sigmoid", "identity")


def _preference(case: Case) -> tuple:
    spec = case.spec
    return (spec.loss is not None, not spec.bias, _PREFERRED_ACTIVATIONS.index(spec.hidden_activation),
            spec.output_activation != spec.hidden_activation)


def timing_cases(ran: list[Case], widths: tuple[int, ...] = TIMING_WIDTHS) -> list[Case]:
    """What to time for an implementation, from the cases of the grid it ran: per depth
    and dtype the preferred one, at every width of ``widths``, the narrowest first (so a
    timing budget that runs out leaves out the largest networks, not whole depths). Only MLPs
    are timed: the widths scale an MLP's layers."""
    chosen: dict[tuple[int, str], Case] = {}
    for case in sorted((c for c in ran if isinstance(c.spec, NetworkSpec)), key=_preference):
        chosen.setdefault((case.spec.depth, case.dtype), case)
    order = sorted(chosen.items(), key=lambda item: (item[0][1] != "float64", item[0][0]))
    return [scaled(case, width) for width in sorted(widths) for _, case in order]


#: Seconds the timing phase of ``conformance run`` and ``check`` may take by default, for
#: every implementation together (``--timing-budget`` changes it). Before each case, its
#: time is estimated (``estimate_s``) and a case that would not fit what is left of the
#: implementation's share (``shares``) is not started; a case already started runs to its
#: end (bounded by the worker's reply deadline), so an implementation overruns its share
#: by at most one case, and only by as much as the estimate was wrong.
DEFAULT_BUDGET_S = 20.0


def shares(budget_s: float, targets: int, spent: list[float]) -> float:
    """The seconds the next of ``targets`` implementations may spend, the ones before it
    having spent ``spent``: an even share of the budget, plus what the ones before left
    unused (one that overran its share takes nothing from the ones after it)."""
    even = budget_s / max(targets, 1)
    carried = 0.0
    for seconds in spent:
        carried = max(even + carried - seconds, 0.0)
    return even + carried


#: Seconds a timing case costs beyond its timed calls (data, messages to the worker).
CASE_OVERHEAD_S = 0.05


@dataclass(frozen=True)
class Measured:
    """The latest case timed: its measurements and the seconds its data took to generate."""

    case: Case
    timed: tuple[Timed, ...]
    generated_s: float = 0.0


def estimate_s(case: Case, last: Measured, rules: Rules) -> float:
    """How long timing ``case`` will take, from the last case measured: every call of the
    implementation and of PyTorch scaled by the ratio of parameters (a forward and backward
    cost about that much more), each of the warm-up, calibration and timed repeats lasting
    at least ``min_repeat_s`` (fast calls are repeated until they do); generating its data
    (redrawing ReLU inputs clear of the kinks) scaled likewise."""
    previous, measured = last.case, last.timed
    ratio = max(case.spec.n_params / max(previous.spec.n_params, 1), 1.0)
    repeats = rules.repeats + 1  # the calibration counts one repeat's worth of calls
    seconds = CASE_OVERHEAD_S + last.generated_s * ratio
    for timed in measured:
        for per_call in (timed.implementation.median_s, timed.torch.median_s):
            call = per_call * ratio
            seconds += rules.warmup * call + repeats * max(rules.min_repeat_s, call)
    return seconds


def fits(case: Case, last: Measured | None, seconds_left: float, rules: Rules = Rules()) -> bool:
    """Whether ``case`` is expected to end within ``seconds_left``, judged by ``last``
    (None: nothing to judge by yet)."""
    if seconds_left <= 0:
        return False
    return last is None or estimate_s(case, last, rules) <= seconds_left
