"""Running an untrusted implementation in its own worker process, under limits.

``WorkerDriver`` serves the same requests as ``Driver`` (supports, observe,
evaluate, timing) from a separate Python process (``python -m
conformance.isolation``, talking over a socket pair): whatever the implementation does to its interpreter (monkeypatching
NumPy, ``nnfs.init()``, reseeding global random state, changing NumPy's error
settings, leaking threads) stays there, away from the oracle and from every
other implementation. Each case runs under a wall-time limit and the worker
under a memory limit; a hang, a crash, a hard exit or a runaway allocation
becomes an ``ImplementationFault`` (an ``error`` row) and the worker is
restarted for the next case.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import time
import zlib
from multiprocessing.connection import Connection
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.driver import Driver, ImplementationFault, Probe
from conformance.faults import describe_exception
from conformance.registry import Target
from conformance.spec import CaseData

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 4096


@dataclass(frozen=True)
class Limits:
    """Per-case wall time and per-worker memory (address space)."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.memory_mb <= 0:
            raise ValueError("time and memory limits must be positive")


@dataclass(frozen=True)
class AdapterReference:
    """How a worker finds the adapter class again: by module name or by file."""

    module: str
    file: str | None
    qualname: str

    @classmethod
    def of(cls, adapter: type) -> AdapterReference | None:
        """None when the class cannot be found from another process (e.g. defined in a function)."""
        if "<locals>" in adapter.__qualname__:
            return None
        module = sys.modules.get(adapter.__module__)
        file = getattr(module, "__file__", None)
        if file is None and adapter.__module__ != "__main__":
            return cls(adapter.__module__, None, adapter.__qualname__)
        return cls(adapter.__module__, file, adapter.__qualname__) if file else None

    def load(self) -> type:
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            if self.file is None:
                raise
            # One module name per file: a process loading two files (a parallel run's pool
            # process) must not let the second replace the first in sys.modules.
            name = f"conformance_worker_{os.getpid()}_{zlib.crc32(self.file.encode()):08x}"
            spec = importlib.util.spec_from_file_location(name, self.file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        obj: Any = module
        for part in self.qualname.split("."):
            obj = getattr(obj, part)
        return obj


@dataclass(frozen=True, eq=False)
class Shared:
    """A large argument (a case's data, a dense direction) sent once per case: the worker
    keeps ``value`` under ``key`` until the next case, and later requests send ``Known(key)``.
    On a 10^6-parameter case this saves pickling 8 MB per finite-difference iteration."""

    key: int
    value: Any


@dataclass(frozen=True)
class Known:
    key: int


def _resolve(value: Any, kept: dict[int, Any]) -> Any:
    """An argument as the worker's driver takes it: shared values stored, known ones looked up."""
    if isinstance(value, Shared):
        kept[value.key] = value.value
        return value.value
    if isinstance(value, Known):
        return kept[value.key]
    if isinstance(value, Probe):
        return Probe(_resolve(value.direction, kept), value.steps)
    if isinstance(value, list):
        return [_resolve(item, kept) for item in value]
    return value


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _serve(conn: Connection, name: str, reference: AdapterReference, memory_mb: int) -> None:
    """The worker's loop: load the adapter, then answer requests until the connection closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        driver = Driver(Target(name, reference.load(), "worker"))
    except BaseException as error:
        conn.send(("fault", f"could not load the adapter in a worker: {describe_exception(error)}"))
        return
    _limit_memory(memory_mb)
    conn.send(("ready", None))
    kept: dict[int, Any] = {}
    while True:
        try:
            method, args, new_case = conn.recv()
        except (EOFError, OSError):
            return
        if new_case:
            kept.clear()
        try:
            reply = ("ok", getattr(driver, method)(*(_resolve(a, kept) for a in args)))
        except ImplementationFault as fault:
            message = str(fault)
            if message.startswith("MemoryError"):
                message += f" (worker memory limit {memory_mb} MiB)"
            reply = ("fault", message)
        except MemoryError:
            reply = ("fault", f"ran out of memory (limit {memory_mb} MiB)")
        except SystemExit as error:
            reply = ("fault", f"the implementation called exit({error.code})")
        except BaseException as error:
            reply = ("fault", describe_exception(error))
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            conn.send(("fault", f"returned something that cannot be sent back: {error}"))
        except MemoryError:
            conn.send(("fault", f"ran out of memory (limit {memory_mb} MiB)"))


def _exit_description(code: int | None) -> str:
    if code is None:
        return "the worker process stopped answering"
    if code < 0:
        try:
            signame = signal.Signals(-code).name
        except ValueError:
            signame = f"signal {-code}"
        hint = " (out of memory?)" if signame == "SIGKILL" else ""
        return f"the implementation crashed the worker process ({signame}){hint}"
    return f"the worker process exited with code {code} (the implementation ended the process)"


class WorkerDriver:
    """A ``Driver`` in a separate process: same requests, plus limits and restarts."""

    def __init__(self, target: Target, limits: Limits = Limits()):
        reference = AdapterReference.of(target.adapter)
        if reference is None:
            raise ValueError(f"{target.name}: adapter class {target.adapter.__qualname__} cannot be isolated "
                             "(define it at module level)")
        self.target, self.name, self.limits, self._reference = target, target.name, limits, reference
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._load_failure = ""
        self._deadline = float("inf")
        #: What this case's requests have sent the worker, by id (held, so no id is reused).
        self._sent: dict[int, Any] = {}

    @property
    def capabilities(self):
        return self.target.adapter.capabilities

    def start_case(self) -> None:
        """Start the wall-time clock for one case (and forget what the last one sent)."""
        self._deadline = time.monotonic() + self.limits.timeout_s
        self._sent = {}

    def _start(self) -> None:
        if self._load_failure:
            raise ImplementationFault(self._load_failure)
        parent, child = socket.socketpair()
        env = os.environ | {"PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "conformance.isolation", str(child.fileno())],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        child.close()
        self._conn = Connection(parent.detach())
        self._sent = {}
        self._conn.send((self.name, self._reference, self.limits.memory_mb))
        status, payload = self._receive(max(self.limits.timeout_s, 60.0))
        if status != "ready":
            self._load_failure = payload  # loading will not work better next time
            self.close()
            raise ImplementationFault(payload)

    def _receive(self, timeout: float):
        try:
            if not self._conn.poll(max(timeout, 0.0)):
                self.close()
                raise ImplementationFault(f"timed out after {self.limits.timeout_s:g} s")
            return self._conn.recv()
        except (EOFError, OSError, ConnectionError):
            try:
                code = self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self.close()
            raise ImplementationFault(_exit_description(code)) from None

    def _once(self, value: Any) -> Shared | Known:
        if self._sent.get(id(value)) is value:
            return Known(id(value))
        self._sent[id(value)] = value
        return Shared(id(value), value)

    def _share(self, value: Any) -> Any:
        """An argument as sent: a case's data and dense directions once per case (the
        harness never changes either once made)."""
        if isinstance(value, CaseData):
            return self._once(value)
        if isinstance(value, Probe) and isinstance(value.direction, np.ndarray):
            return Probe(self._once(value.direction), value.steps)
        if isinstance(value, list):
            return [self._share(item) for item in value]
        return value

    def _call(self, method: str, *args):
        if self._process is None or self._process.poll() is not None:
            self._start()
        new_case = not self._sent
        try:
            self._conn.send((method, tuple(self._share(a) for a in args), new_case))
        except (BrokenPipeError, OSError):
            self.close()
            raise ImplementationFault("the worker process died") from None
        timeout = self._deadline - time.monotonic() if self._deadline != float("inf") else self.limits.timeout_s
        status, payload = self._receive(timeout)
        if status == "fault":
            raise ImplementationFault(payload)
        return payload

    def supports(self, case):
        return self._call("supports", case)

    def observe(self, data):
        return self._call("observe", data)

    def evaluate(self, data, probes):
        return self._call("evaluate", data, probes)

    def timings(self, data, rules):
        return self._call("timings", data, rules)

    def call(self, method: str, *args):
        """Any other ``Driver`` method, served by the worker."""
        return self._call(method, *args)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
        self._process, self._conn = None, None

    def __enter__(self) -> WorkerDriver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def driver_for(target: Target, isolate: bool = True, limits: Limits = Limits()) -> Driver | WorkerDriver:
    """A worker-process driver where the adapter can be found again in another process,
    else (or when ``isolate`` is off) an in-process one."""
    if isolate and AdapterReference.of(target.adapter) is not None:
        return WorkerDriver(target, limits)
    return Driver(target)


def _worker_main(fd: int) -> None:
    conn = Connection(fd)
    name, reference, memory_mb = conn.recv()
    _serve(conn, name, reference, memory_mb)


if __name__ == "__main__":
    # Through the imported module, so that the classes requests are unpickled as (Shared,
    # Known, Probe) are the ones _resolve knows, not copies defined in __main__.
    from conformance.isolation import _worker_main as worker_main

    worker_main(int(sys.argv[1]))
