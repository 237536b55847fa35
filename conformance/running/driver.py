"""Driving one implementation through its adapter: observe a case, evaluate its own
objective at perturbed points (for finite differences), time it.

Observing a case also checks the contract's rules about repeated calls: two runs of
the same case agree (to the rounding of another summation order: ``difference``),
and one model called again answers as a fresh one does (``reuse``).

``Driver`` runs the adapter in this process. Everything the harness asks of
an implementation goes through these three methods, so the same requests can
be served from a separate worker process (see ``isolation``).

Longer than 300 lines: the three requests (describe, observe, reuse) and the checks on
what the adapter returned, each a short function.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from conformance.running import reuse
from conformance.judge import rounding
from conformance.contract.adapter import Adapter, Capabilities, Gradients
from conformance.contract.rules import gradients_problem, layout_violations
from conformance.running.faults import describe_exception
from conformance.running.targets import Target
from conformance.cases.spec import Case, CaseData
from conformance.running.timing import Rules, Timed, side_by_side



class ImplementationFault(Exception):
    """The implementation (or its adapter) raised or broke the contract; one line for the report."""


@dataclass(frozen=True, eq=False)
class Observation:
    """What the implementation produced for one case, as returned (not yet validated)."""

    output: object
    loss: object | None
    gradients: Gradients
    #: Contract rules broken along the way, as (tensor, one-line message) pairs.
    violations: tuple[tuple[str, str], ...] = ()
    #: What is worth saying on a passing contract row (two runs that differ within rounding),
    #: and the numerical warnings the implementation raised (tensor ``WARNING``).
    notes: tuple[tuple[str, str], ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """The overflow, invalid-value and division warnings the implementation raised."""
        return tuple(note for tensor, note in self.notes if tensor == WARNING)


#: The tensor name of a note that carries a warning the implementation raised.
WARNING = "warning"
#: The most warnings one observation reports (each once).
MAX_WARNINGS = 4


def _warning_notes(caught: list) -> tuple[tuple[str, str], ...]:
    """The implementation's own runtime warnings (``overflow encountered in exp``), each once."""
    texts = dict.fromkeys(str(w.message)[:200] for w in caught if issubclass(w.category, RuntimeWarning))
    return tuple((WARNING, f"the implementation warned: {text}") for text in list(texts)[:MAX_WARNINGS])


@dataclass(frozen=True, eq=False)
class Probe:
    """Points ``theta + s * direction`` for each step ``s``, where theta is the case's
    flat parameter vector (``CaseData.flat``) and ``direction`` is a dense vector
    or the index of a single entry."""

    direction: np.ndarray | int
    steps: np.ndarray


def _as_gradients(value: object, method: str) -> Gradients:
    if problem := gradients_problem(value, method):
        raise ImplementationFault(problem)
    return value


def _loss_pair(value: object) -> tuple[object, Gradients]:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise ImplementationFault(f"loss must return (loss value, Gradients), got {type(value).__name__}")
    return value[0], _as_gradients(value[1], "loss")


def _snapshot(value: object) -> object:
    """A copy of a returned array, so a later call reusing its buffer cannot change it."""
    return value.copy() if isinstance(value, np.ndarray) else value


def _snapshot_gradients(grads: Gradients) -> Gradients:
    """Copies of the returned gradient arrays: a model that adds into its stored gradients
    would otherwise change what an earlier call returned."""
    def copy(tensors):
        return tuple(_snapshot(t) for t in tensors) if isinstance(tensors, (tuple, list)) else tensors
    named = {k: _snapshot(v) for k, v in grads.named.items()} if isinstance(grads.named, dict) else grads.named
    return Gradients(_snapshot(grads.input), copy(grads.weights), copy(grads.biases), named)


def _modified_arguments(pristine: CaseData, given: CaseData) -> tuple[tuple[str, str], ...]:
    arrays = {"upstream": (pristine.upstream, given.upstream), "targets": (pristine.targets, given.targets)}
    arrays |= {name: (tensor, given.tensors()[name]) for name, tensor in pristine.tensors().items()}
    return tuple(
        (name, f"{name}: the implementation modified the array it was given, in place "
               f"(the harness had its own copy; results use the original values)")
        for name, (before, after) in arrays.items()
        if not _same_bits(before, after)
    )


def _same_bits(before: np.ndarray, after: np.ndarray) -> bool:
    """Bit for bit equal (as ``tobytes()`` would say, without copying either array)."""
    if before.shape != after.shape or before.dtype != after.dtype:
        return False
    def as_bytes(a):
        return np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    return bool(np.array_equal(as_bytes(before), as_bytes(after)))


def objective_value(adapter: Adapter, data: CaseData) -> float:
    """The scalar finite differences differentiate: ``<upstream, forward(x)>`` for a
    VJP case, the implementation's own loss for a loss case."""
    spec = data.case.spec
    adapter.build(spec, data.params)
    if spec.loss is None:
        returned = adapter.forward(data.x)
        output = np.asarray(returned, dtype=np.float64)
        value = np.sum(output * data.upstream)
        # An output of less precision than float64 makes an objective of that precision: say so
        # by its value (finite differences read the precision from the values they get).
        coarse = rounding.precision((returned,), "float64")
        return float(value.astype(coarse)) if coarse.itemsize < 8 else float(value)
    loss, _ = _loss_pair(adapter.loss(data.x, data.targets))
    return float(np.asarray(loss, dtype=np.float64))



@contextlib.contextmanager
def _faults(what: str = ""):
    """An exception the implementation raised, as the ``ImplementationFault`` that says so in
    one line (``what`` first, e.g. ``supports() failed``); a fault already raised passes."""
    try:
        yield
    except ImplementationFault:
        raise
    except Exception as error:
        raise ImplementationFault(f"{what}: {describe_exception(error)}" if what else describe_exception(error)) \
            from error


#: How an error row begins when the adapter could not even be constructed.
START_FAILURE = "adapter failed to start"


class Driver:
    """One implementation, run in this process. Every call works on copies of the data."""

    def __init__(self, target: Target):
        # A target named by a locator is imported here: only the caller's own choice
        # (no isolation, or the suite's bundled implementations) brings one here.
        self.target = target if target.adapter is not None else target.loaded_here()
        self.name = target.name

    def _adapter(self) -> Adapter:
        with _faults(START_FAILURE):
            return self.target.new()

    @property
    def capabilities(self) -> Capabilities:
        return self.target.adapter.capabilities

    def describe(self) -> dict:
        """The adapter's name, class, description and capabilities (as a worker reports them)."""
        adapter = self.target.adapter
        return {"name": adapter.name or "", "class": adapter.__qualname__, "description": adapter.description or "",
                "capabilities": adapter.capabilities, "notes": ()}

    def start_case(self) -> None:
        """Nothing to do in-process (a worker driver starts its wall-time clock here)."""

    def close(self) -> None:
        """Nothing to release in-process (a worker driver stops its process here)."""

    def supports(self, case: Case) -> str | None:
        """The declared capabilities' reason first: an adapter's own ``supports()`` only sees
        specs they allow (code reading ``spec.kinds`` never meets an MLP it did not ask for)."""
        adapter = self._adapter()
        with _faults("supports() failed"):
            declared = adapter.capabilities.why_not(case.spec, case.batch, case.dtype)
            return declared or adapter.supports(case.spec, case.batch, case.dtype)

    def expect(self, cases: Sequence[Case]) -> None:
        """Nothing to ask ahead in-process (a worker driver asks ``supports`` for all at once)."""

    def supports_each(self, cases: Sequence[Case]) -> list[str | None]:
        """``supports`` for each case, in one request (the instructor's side decides a grid)."""
        return [self.supports(case) for case in cases]

    def observe(self, data: CaseData) -> Observation:
        """Run the case twice on fresh models, then the second model three times more
        (``reuse``), and report what the first run produced, with any contract violation:
        arguments modified in place, a second run that disagrees with the first beyond
        rounding (within it: a note), or a model that keeps state between calls."""
        given = data.copy()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = self._observe_once(self._adapter(), given)
        modified = _modified_arguments(data, given)
        del given  # before the second copy: one copy of a large case's data at a time
        adapter = self._adapter()
        second = self._observe_once(adapter, data.copy(), keep=False)
        method = "backward" if data.case.spec.loss is None else "loss"
        allowance = rounding.Rounding(data)
        differ, notes = rounding.differences(first, second, allowance)
        kept = () if differ else reuse.violations(
            rounding.observed_arrays(first),
            lambda given: rounding.observed_arrays(self._observe_once(adapter, given, build=False, keep=False)),
            data, allowance.difference)
        violations = modified + differ + kept + layout_violations(first.output, first.gradients, data, method)
        return Observation(first.output, first.loss, first.gradients, violations, notes + _warning_notes(caught))

    def _observe_once(self, adapter: Adapter, data: CaseData, build: bool = True, keep: bool = True) -> Observation:
        """Build (unless the model is being reused), run forward, then backward (VJP case) or
        the implementation's loss; the output copied (so the backward cannot change it) and, with
        ``keep`` (a result used after the next call), every returned gradient too, so later calls
        cannot change them. Runs compared at once and dropped skip that copy: on a large
        network, a copy of every gradient each."""
        spec = data.case.spec
        with _faults():
            if build:
                adapter.build(spec, data.params)
            output = _snapshot(adapter.forward(data.x))
            if spec.loss is None:
                grads = _as_gradients(adapter.backward(data.upstream), "backward")
                return Observation(output, None, _snapshot_gradients(grads) if keep else grads)
            loss, grads = _loss_pair(adapter.loss(data.x, data.targets))
            return Observation(output, _snapshot(loss), _snapshot_gradients(grads) if keep else grads)

    def evaluate(self, data: CaseData, probes: Sequence[Probe]) -> list[np.ndarray]:
        """The objective at every probe's points, one array of values per probe."""
        adapter = self._adapter()
        theta = data.flat()
        # Every point is written into this one buffer: a fresh vector per point costs as
        # much as the forward on a large network. theta itself is never handed out, so a
        # point the implementation modifies in place cannot leak into the next one.
        point = np.empty_like(theta)
        values = []
        with _faults(), warnings.catch_warnings():
            # The implementation's own warnings are reported once, from its observed run (``observe``).
            warnings.simplefilter("ignore")
            for probe in probes:
                row = []
                for step in np.asarray(probe.steps, dtype=np.float64).ravel():
                    if isinstance(probe.direction, (int, np.integer)):
                        np.copyto(point, theta)
                        point[probe.direction] += step
                    else:
                        np.multiply(probe.direction, step, out=point, dtype=np.float64)  # a float32 direction too
                        point += theta
                    row.append(objective_value(adapter, data.with_flat(point)))
                values.append(np.asarray(row).reshape(np.shape(probe.steps)))
        return values

    def timings(self, data: CaseData, rules: Rules) -> tuple[Timed, ...]:
        """Forward and backward timed side by side with PyTorch, here where the implementation runs."""
        with _faults():
            return side_by_side(self._adapter, data, rules)
