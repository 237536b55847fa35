"""The sandboxed worker: loads one submission's adapter and answers the grader's requests.

Started in Python's isolated mode by ``BOOTSTRAP`` (inside the sandbox, see
``sandbox``), it reads requests from the socket FD and writes every reply in
the data-only format of ``wire``. Its import path is the standard library and
site-packages only: the grader's current folder and ``PYTHONPATH`` never reach
it, and the suite itself is imported from the grader's copy, whose folder then
leaves the path again. The first request says what to load and the limits to
apply; the worker applies them to itself and imports the modules it relies on
(``WORKER_MODULES``) *before* any submission code runs or the submission's
folder (its private copy, see ``copies``) is on the path, then loads the
adapter (``loading``) and replies with its name,
description, capabilities and the notes loading took (a notebook's skipped
lines and failed cells) as plain data. After that each request is one
``Driver`` method (supports, observe, evaluate, timings); an exception, a
``sys.exit`` or running out of memory becomes a ``fault`` reply with one line.

Whatever the submission does to this interpreter (patching NumPy, reseeding,
leaking threads) stays here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import signal
import socket
import sys
from typing import Any

#: Methods of ``Driver`` a request may name.
METHODS = ("supports", "supports_each", "observe", "evaluate", "timings")
#: What a worker serving a file of declared functions (``function_host``) may be asked.
FUNCTION_METHODS = ("layer_params", "function_run", "function_at", "function_values")

#: ``python -I -B -c BOOTSTRAP HARNESS FD``: the suite from HARNESS (the folder holding the
#: grader's ``conformance``), which is then taken off the import path again.
BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv[1]); from conformance.running import worker; "
             "sys.path.remove(sys.argv[1]); worker.main(sys.argv[1:])")

#: What the worker relies on, imported before any folder of the submission is on the path
#: (a submission's ``numpy.py`` or ``resource.py`` then shadows nothing the worker uses).
WORKER_MODULES = ("numpy", "conformance.running.wire", "conformance.running.driver",
                  "conformance.running.loading", "conformance.running.submission",
                  "conformance.running.notebooks", "conformance.contract.adapter", "conformance.cases.spec",
                  "conformance.running.function_host")
#: What loading a graded notebook or folder relies on besides (a notebook is read with nbformat).
GRADING_MODULES = ("nbformat",)
#: What finding an entry point's target relies on besides (the installed packages' metadata).
ENTRY_POINT_MODULES = ("importlib.metadata",)


@dataclasses.dataclass(frozen=True)
class Shared:
    """A large argument (a case's data, a dense direction) sent once per case: the worker
    keeps ``value`` under ``key`` until the next case, and later requests send ``Known(key)``."""

    key: int
    value: Any


@dataclasses.dataclass(frozen=True)
class Known:
    key: int


def resolve(value: Any, kept: dict[int, Any]) -> Any:
    """An argument as the driver takes it: shared values stored, known ones looked up."""
    from conformance.running.driver import Probe

    if isinstance(value, Shared):
        kept[value.key] = value.value
        return value.value
    if isinstance(value, Known):
        return kept[value.key]
    if isinstance(value, Probe):
        return Probe(resolve(value.direction, kept), value.steps)
    if isinstance(value, list):
        return [resolve(item, kept) for item in value]
    return value


def apply_limits(limits) -> None:
    """Resource limits on this process and everything it starts (they cannot be raised again)."""
    mib = 1024 * 1024
    wanted = [(resource.RLIMIT_AS, limits.memory_mb * mib), (resource.RLIMIT_CPU, limits.cpu_s),
              (resource.RLIMIT_FSIZE, limits.file_mb * mib), (resource.RLIMIT_CORE, 0)]
    if limits.processes > 0:  # 0: not here (outside a user namespace it would count all of the user's processes)
        wanted.append((resource.RLIMIT_NPROC, limits.processes))
    for which, value in wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (value, value))


# ---- replies as plain data ---------------------------------------------------------------

def _gradients(gradients) -> dict:
    named = gradients.named if gradients.named is None else dict(gradients.named)
    return {"input": gradients.input, "weights": list(gradients.weights), "biases": list(gradients.biases),
            "named": named}


def _observation(seen) -> dict:
    return {"output": seen.output, "loss": seen.loss, "gradients": _gradients(seen.gradients),
            "violations": [[str(tensor), str(message)] for tensor, message in seen.violations],
            "notes": [[str(tensor), str(message)] for tensor, message in seen.notes]}


def _measurement(m) -> dict:
    return {"median_s": m.median_s, "q1_s": m.q1_s, "q3_s": m.q3_s, "repeats": m.repeats,
            "calls_per_repeat": m.calls_per_repeat}


def as_data(method: str, result: Any) -> Any:
    """A driver method's result as the plain data the reply carries."""
    if method == "supports":
        return {"reason": None if result is None else str(result)}
    if method == "supports_each":
        return {"reasons": [None if reason is None else str(reason)[:300] for reason in result]}
    if method == "observe":
        return _observation(result)
    if method == "evaluate":
        return [v for v in result]
    if method in FUNCTION_METHODS:
        return result
    if method == "timings":
        return [{"phase": t.phase, "implementation": _measurement(t.implementation), "torch": _measurement(t.torch)}
                for t in result]
    raise ValueError(method)


#: The most notes (skipped notebook lines, cells that raised) a load reply carries.
MAX_NOTES = 40


def describe_loaded(cls, notes: tuple[str, ...] = ()) -> dict:
    capabilities = cls.capabilities
    fields = {}
    for field in dataclasses.fields(capabilities):
        value = getattr(capabilities, field.name)
        fields[field.name] = (sorted(value, key=str) if isinstance(value, (set, frozenset))
                              else dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)
    return {"name": str(cls.name or ""), "class": cls.__qualname__, "description": str(cls.description or ""),
            "capabilities": fields, "notes": _bounded(notes)}


def _bounded(notes: tuple[str, ...]) -> list[str]:
    kept = [str(note)[:400] for note in notes[:MAX_NOTES]]
    return kept + ([f"… and {len(notes) - MAX_NOTES} more notes"] if len(notes) > MAX_NOTES else [])


# ---- the loop ----------------------------------------------------------------------------

def _send(sock: socket.socket, request_id: int, status: str, body: Any) -> None:
    from conformance.running import wire

    try:
        frame = wire.encode_reply(request_id, status, body)
    except MemoryError:
        frame = wire.encode_reply(request_id, "fault", "ran out of memory while sending the reply")
    except (TypeError, ValueError) as error:
        frame = wire.encode_reply(request_id, "fault", f"returned something that cannot be sent back: {error}")
    sock.sendall(frame)


def _fault_text(error: BaseException, memory_mb: int) -> str:
    from conformance.running import forbid
    from conformance.running.driver import ImplementationFault
    from conformance.running.faults import describe_exception

    if refused := forbid.explain(error):
        return refused
    if isinstance(error, ImplementationFault):
        message = str(error)
        return message + (f" (worker memory limit {memory_mb} MiB)" if message.startswith("MemoryError") else "")
    if isinstance(error, MemoryError):
        return f"ran out of memory (limit {memory_mb} MiB)"
    if isinstance(error, SystemExit):
        return f"the implementation called exit({error.code})"
    return describe_exception(error)


def prepare_imports(locator) -> None:
    """Import what the worker relies on, then append a ``module`` target's folders to the path."""
    import importlib

    notebook = locator.kind == "assignment" and not str(locator.submission).endswith(".py")
    extra = GRADING_MODULES if notebook else ENTRY_POINT_MODULES if locator.kind == "entry_point" else ()
    for name in WORKER_MODULES + extra:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    sys.path.extend(root for root in locator.roots if root not in sys.path)


def _load(request) -> tuple[Any, dict]:
    """Apply the limits, then load the adapter; (driver, its description)."""
    from conformance.running.driver import Driver
    from conformance.running.loading import load
    from conformance.running.targets import Target

    _, locator, limits, name = request
    apply_limits(limits)
    prepare_imports(locator)
    os.environ.setdefault("MPLBACKEND", "Agg")  # plotting cells and demos need no display
    refusal = _forbid(locator.forbid, notebooks=not str(locator.submission).endswith(".py"))
    if locator.functions:
        from conformance.running.function_host import FunctionHost

        host = FunctionHost.load(locator.where, locator.given or locator.where)
        return host, describe_loaded(FunctionHost)
    loaded = load(locator, cell_seconds=limits.timeout_s)
    notes = loaded.notes + (refusal.notes() if refusal is not None else ())
    return Driver(Target(name, loaded.cls, locator.where)), describe_loaded(loaded.cls, notes)


def _forbid(names: tuple[str, ...], notebooks: bool):
    """Refuse the forbidden modules from here on, once what the worker itself needs (the
    notebook reader too, unless the submission is a ``.py`` file) is loaded."""
    from conformance.running import forbid
    from conformance.running.modules import LoadError

    if not names:
        return None
    import importlib

    # loaded now, before anything is refused: the worker's own reading of submissions, and
    # nbformat, what every notebook is read with, whatever the assignment forbids
    for name in ("conformance.running.notebooks", "conformance.running.submission") + ("nbformat",) * notebooks:
        importlib.import_module(name)

    try:
        return forbid.install(names)
    except forbid.CannotForbid as error:
        raise LoadError(str(error)) from None


def _load_failure(error: BaseException, locator) -> str:
    """A load's one line; a forbidden import names the submission and the module."""
    from conformance.running import forbid

    if refused := forbid.explain(error):
        return f"{locator.given or locator.submission or locator.where} {refused}"
    return str(error)


def serve(sock: socket.socket) -> None:
    from conformance.running import wire

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    request = wire.read_request(sock)
    if request is None:
        return
    memory_mb = request[2].memory_mb
    try:
        driver, description = _load(request)
    except BaseException as error:  # whatever loading raises is the submission's
        from conformance.running.modules import LoadError

        text = _load_failure(error, request[1]) if isinstance(error, LoadError) else _fault_text(error, memory_mb)
        _send(sock, 0, "fault", text)
        return
    _send(sock, 0, "ok", description)
    kept: dict[int, Any] = {}
    while (request := wire.read_request(sock)) is not None:
        request_id, method, args, new_case = request
        if new_case:
            kept.clear()
        try:
            if method not in (FUNCTION_METHODS if hasattr(driver, "function_run") else METHODS):
                raise ValueError(f"unknown request {method!r}")
            result = getattr(driver, method)(*(resolve(a, kept) for a in args))
            _send(sock, request_id, "ok", as_data(method, result))
        except BaseException as error:  # reported, the worker goes on
            _send(sock, request_id, "fault", _fault_text(error, memory_mb))


def main(argv: list[str]) -> None:
    sock = socket.socket(fileno=int(argv[1]))
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionError):
        pass
    finally:
        with contextlib.suppress(OSError):
            sock.close()
    os._exit(0)  # no atexit hook or leaked thread of the submission's delays the end


if __name__ == "__main__":
    # Through the imported module, so that the classes requests are unpickled as (Shared,
    # Known) are the ones ``resolve`` knows, not copies defined in __main__.
    from conformance.running.worker import main as worker_main

    worker_main(sys.argv)
