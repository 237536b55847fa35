"""The grading process's side of checking a file of declared functions: the same sandboxed
worker as an adapter's (``isolation.WorkerDriver``: private copy, limits, deadlines, restarts),
loading the file with ``function_host``, and a ``RemoteSubject`` per function that serves the
subject's three requests (``run``, ``at``, ``values``) from it. Every reply is checked here
against what the request can get back — structure, counts, shapes, dtypes, sizes — before
anything reads it; anything else is an ``ImplementationFault``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from conformance.running.isolation import WorkerDriver
from conformance.running.limits import Limits
from conformance.running.replies import malformed, objective_values
from conformance.running.loading import Locator
from conformance.running.subjects import Ran
from conformance.running.targets import Target

#: The most bytes one ``run`` reply may carry, as a multiple of the inputs' bytes in float64
#: (outputs larger than the inputs, as an outer product's, are allowed for), and at least this.
REPLY_FACTOR, MIN_REPLY_BYTES = 64, 1 << 24


#: How a fault that is the worker's (a reply refused, a hang, a crash), not an exception the
#: function raised, begins (``isolation``'s words).
WORKER_FAULTS = ("the worker sent a malformed reply", "timed out", "the implementation crashed",
                 "the worker process exited", "skipped after", "time budget of")


def worker_fault(error: BaseException) -> bool:
    """Whether ``error`` is the worker's failure rather than the function's own exception."""
    return str(error).startswith(WORKER_FAULTS)


def worker_for(path: str, shown: str, limits: Limits = Limits()) -> WorkerDriver:
    """A sandboxed worker that loads the file at ``path`` as declared functions."""
    locator = Locator("file", str(Path(path).resolve()), given=shown, functions=True)
    return WorkerDriver(Target(shown, None, "file", locator), limits)


def _arrays(value: Any, what: str, count: int | None = None, allow_none: bool = False) -> list:
    if not (isinstance(value, list) and (count is None or len(value) == count)):
        raise malformed(f"{what} must be a list" + (f" of {count}" if count is not None else ""))
    for item in value:
        if not (isinstance(item, np.ndarray) or (allow_none and item is None)):
            raise malformed(f"{what} must hold arrays{' or none' if allow_none else ''}")
    return value


class RemoteSubject:
    """A declared function called in the worker (``key``: what ``function_host`` resolves)."""

    def __init__(self, worker: WorkerDriver, key: tuple):
        self.worker, self.key = worker, key

    def _bytes(self, inputs: Sequence[np.ndarray]) -> int:
        return max(MIN_REPLY_BYTES, REPLY_FACTOR * 8 * sum(int(np.size(x)) for x in inputs))

    def run(self, inputs, differentiable, upstream=None) -> Ran:
        self.worker.start_case()
        wanted = sum(bool(d) for d in differentiable)
        body = self.worker._call("function_run", self._bytes(inputs), self.key, list(inputs), list(differentiable),
                                 upstream if upstream is None or isinstance(upstream, int) else list(upstream))
        if not (isinstance(body, dict) and set(body) == {"outputs", "gradients", "upstream"}):
            raise malformed("a function's run must answer with outputs, gradients and upstream")
        outputs = _arrays(body["outputs"], "outputs")
        if not 0 < len(outputs) <= 64:
            raise malformed("a function returns between 1 and 64 outputs")
        if upstream is None:
            return Ran(tuple(outputs))
        grads = _arrays(body["gradients"], "gradients", wanted, allow_none=True)
        given = _arrays(body["upstream"], "upstream", len(outputs))
        for o, u in zip(outputs, given):
            if u.shape != o.shape or u.dtype != np.float64:
                raise malformed("upstream gradients must be float64 arrays of the outputs' shapes")
        if isinstance(upstream, int):  # drawn in the worker: drawn again here, and must agree
            from conformance.running.subjects import upstream_for

            if any(not np.array_equal(a, b) for a, b in zip(upstream_for(outputs, upstream), given)):
                raise malformed("the upstream gradients are not the ones drawn from the run's seed")
        return Ran(tuple(outputs), tuple(grads), tuple(given))

    def at(self, inputs, differentiable, upstream, dtype: str) -> None:
        body = self.worker._call("function_at", 1 << 10, self.key, list(inputs), list(differentiable),
                                 list(upstream), dtype)
        if body != {}:
            raise malformed("fixing the point answers with nothing")

    def values(self, probes) -> list[np.ndarray]:
        shapes = [np.shape(steps) for _, steps in probes]
        body = self.worker._call("function_values", 8 * sum(math.prod(s) for s in shapes) + 1024, self.key,
                                 [(p if isinstance(p, int) else np.asarray(p), np.asarray(s)) for p, s in probes])
        return objective_values(body, shapes)

    def layer_params(self) -> dict[str, np.ndarray]:
        body = self.worker._call("layer_params", 1 << 26, self.key)
        if not (isinstance(body, dict) and set(body) == set(self.key[3])
                and all(isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.ndim <= 8 for v in body.values())):
            raise malformed("a layer's parameters must be float arrays, one per declared name")
        return body

