"""Driving one implementation through its adapter: observe a case, evaluate its own
objective at perturbed points (for finite differences), time it.

``Driver`` runs the adapter in this process. Everything the harness asks of
an implementation goes through these three methods, so the same requests can
be served from a separate worker process (see ``isolation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from conformance.adapter import Adapter, Capabilities, Gradients
from conformance.contract import gradients_problem, layout_violations
from conformance.faults import describe_exception
from conformance.registry import Target
from conformance.spec import Case, CaseData
from conformance.timing import Rules, Timed, side_by_side



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
    as_bytes = lambda a: np.ascontiguousarray(a).reshape(-1).view(np.uint8)  # noqa: E731
    return bool(np.array_equal(as_bytes(before), as_bytes(after)))


def _observed_arrays(seen: Observation) -> dict[str, object]:
    return {"output": seen.output, "loss": seen.loss} | seen.gradients.tensors()


def _differences(first: Observation, second: Observation) -> tuple[tuple[str, str], ...]:
    """Tensors that came out differently from two runs of the same case."""
    found = []
    for name, a in _observed_arrays(first).items():
        b = _observed_arrays(second).get(name)
        try:
            a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        except (TypeError, ValueError):
            continue  # not numeric: the comparison with the oracle reports it
        if a_arr.shape != b_arr.shape or not np.array_equal(a_arr, b_arr, equal_nan=True):
            diff = "" if a_arr.shape != b_arr.shape else f" (max |difference| {np.nanmax(np.abs(a_arr - b_arr)):.3g})"
            found.append((name, f"{name}: non-deterministic, two runs of the same case differ{diff}"))
    return tuple(found)


def objective_value(adapter: Adapter, data: CaseData) -> float:
    """The scalar finite differences differentiate: ``<upstream, forward(x)>`` for a
    VJP case, the implementation's own loss for a loss case."""
    spec = data.case.spec
    adapter.build(spec, data.params)
    if spec.loss is None:
        output = np.asarray(adapter.forward(data.x), dtype=np.float64)
        return float(np.sum(output * data.upstream))
    loss, _ = _loss_pair(adapter.loss(data.x, data.targets))
    return float(np.asarray(loss, dtype=np.float64))


class Driver:
    """One implementation, run in this process. Every call works on copies of the data."""

    def __init__(self, target: Target):
        # A target named by a locator is imported here: only the caller's own choice
        # (no isolation, or the suite's bundled implementations) brings one here.
        self.target = target if target.adapter is not None else target.loaded_here()
        self.name = target.name

    def _adapter(self) -> Adapter:
        try:
            return self.target.new()
        except Exception as error:
            raise ImplementationFault(f"adapter failed to start: {describe_exception(error)}") from error

    @property
    def capabilities(self) -> Capabilities:
        return self.target.adapter.capabilities

    def describe(self) -> dict:
        """The adapter's name, class, description and capabilities (as a worker reports them)."""
        adapter = self.target.adapter
        return {"name": adapter.name or "", "class": adapter.__qualname__, "description": adapter.description or "",
                "capabilities": adapter.capabilities}

    def start_case(self) -> None:
        """Nothing to do in-process (a worker driver starts its wall-time clock here)."""

    def close(self) -> None:
        """Nothing to release in-process (a worker driver stops its process here)."""

    def supports(self, case: Case) -> str | None:
        try:
            return self._adapter().supports(case.spec, case.batch, case.dtype)
        except ImplementationFault:
            raise
        except Exception as error:
            raise ImplementationFault(f"supports() failed: {describe_exception(error)}") from error

    def observe(self, data: CaseData) -> Observation:
        """Run the case twice on fresh copies and report what the first run produced,
        with any contract violation: arguments modified in place, or a second run
        that disagrees with the first."""
        given = data.copy()
        first = self._observe_once(given)
        modified = _modified_arguments(data, given)
        del given  # before the second copy: one copy of a large case's data at a time
        second = self._observe_once(data.copy())
        method = "backward" if data.case.spec.loss is None else "loss"
        violations = (modified + _differences(first, second)
                      + layout_violations(first.output, first.gradients, data, method))
        return Observation(first.output, first.loss, first.gradients, violations)

    def _observe_once(self, data: CaseData) -> Observation:
        """Build, run forward, then backward (VJP case) or the implementation's loss."""
        adapter = self._adapter()
        spec = data.case.spec
        try:
            adapter.build(spec, data.params)
            output = _snapshot(adapter.forward(data.x))
            if spec.loss is None:
                return Observation(output, None, _as_gradients(adapter.backward(data.upstream), "backward"))
            loss, grads = _loss_pair(adapter.loss(data.x, data.targets))
            return Observation(output, loss, grads)
        except ImplementationFault:
            raise
        except Exception as error:
            raise ImplementationFault(describe_exception(error)) from error

    def evaluate(self, data: CaseData, probes: Sequence[Probe]) -> list[np.ndarray]:
        """The objective at every probe's points, one array of values per probe."""
        adapter = self._adapter()
        theta = data.flat()
        # Every point is written into this one buffer: a fresh vector per point costs as
        # much as the forward on a large network. theta itself is never handed out, so a
        # point the implementation modifies in place cannot leak into the next one.
        point = np.empty_like(theta)
        values = []
        try:
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
        except ImplementationFault:
            raise
        except Exception as error:
            raise ImplementationFault(describe_exception(error)) from error
        return values

    def timings(self, data: CaseData, rules: Rules) -> tuple[Timed, ...]:
        """Forward and backward timed side by side with PyTorch, here where the implementation runs."""
        try:
            return side_by_side(self._adapter, data, rules)
        except ImplementationFault:
            raise
        except Exception as error:
            raise ImplementationFault(describe_exception(error)) from error
