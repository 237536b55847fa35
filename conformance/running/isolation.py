"""Running a submission in a sandboxed worker, and taking nothing from it but validated data.

``WorkerDriver`` serves the same requests as ``Driver`` (supports, observe,
evaluate, timings) from a worker process (``conformance.running.worker``) started in
the sandbox (``conformance.running.sandbox``), on a private copy of the submission
made for that worker and removed with it (``conformance.running.copies``). The worker
loads the submission; this process never imports it. Requests go out pickled; every reply comes back in
the data-only format of ``wire`` and is checked here against what the request
can get back (structure, tensor names, array sizes, dtypes) under one
deadline for the whole reply. A reply that breaks any of that, a hang, a
crash, a hard exit or a runaway allocation becomes an ``ImplementationFault``
(an ``error`` row), and the worker is started afresh for the next case. After
``Limits.max_timeouts`` timeouts a target gets no more cases, nor once the time its
worker spent answering (loading included) reaches ``Limits.target_budget_s``.

Longer than 300 lines: starting, restarting and stopping the worker, its deadlines and
budgets, and one method per request, which must all keep one protocol (what a reply may
hold is ``replies``; how a worker is started, ``launch``; what it may spend, ``limits``).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from conformance.running import cgroups, copies, handover, launch, replies, sandbox, wire
from conformance.running.limits import Limits
from conformance.contract.adapter import Capabilities
from conformance.running.driver import Driver, ImplementationFault, Observation, Probe
from conformance.running.protocol import ImplementationDriver
from conformance.running.targets import Target
from conformance.cases.spec import CaseData
from conformance.running.timing import PHASES, Timed
from conformance.running.worker import Known, Shared

class WorkerDriver:
    """A ``Driver`` in a sandboxed worker: same requests, plus limits, validation, restarts."""

    def __init__(self, target: Target, limits: Limits = Limits()):
        locator = launch.locator(target)
        if locator is None:
            raise ValueError(f"{target.name}: adapter class {target.adapter.__qualname__} cannot be isolated "
                             "(define it at module level)")
        self.target, self.name, self.limits, self.locator = target, target.name, limits, locator
        # Every submission's own files are hidden, this one's too: its worker reads its private
        # copy (``copies``). The grader's own interpreter and import path stay readable (the
        # private /tmp would hide them when they live there, as a fresh checkout's virtual
        # environment may).
        hidden = limits.hidden
        if locator.forbid and locator.submission is not None:
            # Not provided to a submission at all: no import, no reading the files from their paths.
            # (The assignment alone is the instructor's: its worker checks the refusal can be kept.)
            from conformance.running.forbid import hidden_paths

            hidden += hidden_paths(locator.forbid)
        # The sandbox shows only what is bound: the worker's import path has to be, and its
        # private copy, bound when it is made (``_start``).
        self._readable = tuple(p for p in launch.python_path() if Path(p).is_dir())
        self.view = sandbox.View(readable=self._readable, hidden=hidden, tmp_mb=limits.tmp_mb, shm_mb=limits.shm_mb)
        self._copy: copies.PrivateCopy | None = None
        self._process: subprocess.Popen | None = None
        self._stderr = None
        self._sock: socket.socket | None = None
        self._groups: cgroups.WorkerGroups | None = None
        self._load_failure = ""
        self._description: dict | None = None
        self._budget = math.inf
        #: What is left of the target's time budget (every request and loading draw on it).
        self._target_left = limits.target_budget_s if limits.target_budget_s is not None else math.inf
        self._next_id = 1
        self.timeouts = 0
        self.crashes = 0  # in a row
        #: What this case's requests have sent the worker, by id (held, so no id is reused).
        self._sent: dict[int, Any] = {}
        #: ``supports``' answers asked ahead (``expect``), by case.
        self._reasons: dict[Any, str | None] = {}

    # ---- what loading told ----

    def describe(self) -> dict:
        """The adapter's name, description, capabilities and load notes as the worker read
        them (validated); ``ImplementationFault`` when it cannot be loaded."""
        if self._description is None:
            self._start()
        return self._description

    @property
    def capabilities(self) -> Capabilities:
        return self.describe()["capabilities"]

    @property
    def label(self) -> str:
        return self.describe()["name"]

    # ---- the process ----

    def start_case(self) -> None:
        """Give one case its wall time (and forget what the last one sent). The clock runs
        only while the worker is asked something: the grader's own work (the oracle, the
        comparison) costs the implementation nothing."""
        self._budget = self.limits.timeout_s
        self._sent = {}

    def _budget_spent(self) -> ImplementationFault:
        return ImplementationFault(f"time budget of {self.limits.target_budget_s:g} s spent")

    def _start(self) -> None:
        if self._load_failure:
            raise ImplementationFault(self._load_failure)
        if self._target_left <= 0:
            raise self._budget_spent()
        if self.timeouts >= self.limits.max_timeouts:
            raise ImplementationFault(f"skipped after {self.timeouts} timeouts")
        if self.crashes >= self.limits.max_crashes:
            raise ImplementationFault(f"skipped after its worker ended {self.crashes} times in a row")
        try:
            self._copy = copies.private_copy(self.locator)
        except copies.CopyError as error:
            self._load_failure = str(error)
            raise ImplementationFault(self._load_failure) from None
        self.view = replace(self.view, readable=tuple(dict.fromkeys(self._copy.readable + self._readable)),
                            workdir=self._copy.workdir)
        self._hand_over()
        parent, child = socket.socketpair()
        mib = 1024 * 1024
        self._groups = cgroups.WorkerGroups((self.limits.memory_mb + self.limits.tmp_mb + self.limits.shm_mb) * mib,
                                            self.limits.processes)
        env = launch.worker_environment()
        self._stderr = tempfile.TemporaryFile()  # its size is bounded by the worker's file size limit
        filter_fd = sandbox.system_call_filter()
        passed = (child.fileno(),) + ((filter_fd,) if filter_fd is not None else ())
        try:
            self._process = subprocess.Popen(
                self._groups.wrap(launch.worker_command(self.view, child.fileno(), filter_fd)), pass_fds=passed,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
                start_new_session=True, cwd="/")
        finally:
            child.close()
            if filter_fd is not None:
                os.close(filter_fd)
        self._sock, self._sent = parent, {}
        # RLIMIT_NPROC counts every process of the worker's user: it is the worker's own only in
        # a user namespace of its own (a grader that is not root, under bubblewrap).
        own_user = sandbox.bubblewrap()[0] is not None and not sandbox.drops()
        limits = self.limits if own_user else replace(self.limits, processes=0)
        wire.write_request(parent, ("load", self._copy.locator, limits, self.name))
        asked = time.monotonic()
        try:
            reply = self._timed_receive(0, asked, self.limits.load_s, 1 << 16)
            description = replies.load_reply(reply)
        except ImplementationFault as fault:
            self._load_failure = str(fault)  # loading will not work better next time
            self.close()
            raise
        self._description = description | {"notes": self._copy.notes + description["notes"]}

    def _hand_over(self) -> None:
        """As root under bubblewrap: copies of the submission's paths the sandbox user cannot read."""
        if not sandbox.drops():
            return
        user, copies = sandbox.SANDBOX_USER, []
        try:
            for path in (self._copy.readable if self._copy is not None else self.locator.readable):
                if (copy := handover.hand_over(path, self.view.hidden, user, user)) is not None:
                    copies.append(copy)
        except (OSError, shutil.Error) as error:
            handover.release(tuple(copies))
            raise ImplementationFault(f"its files could not be handed to the sandbox user: {error}") from None
        self.view = replace(self.view, copies=tuple(copies))

    def _timed_receive(self, request_id: int, asked: float, seconds: float, max_bytes: int,
                       method: str = "load") -> Any:
        """The reply, within ``seconds`` and what is left of the target's budget; the time
        it took drawn from that budget. Past the budget, the worker is stopped."""
        by_budget = self._target_left < seconds
        try:
            return self._receive(request_id, asked + min(seconds, self._target_left), max_bytes, method,
                                 timeout_counts=not by_budget)
        except ImplementationFault:
            if by_budget and time.monotonic() - asked >= self._target_left:
                self._target_left = 0.0
                raise self._budget_spent() from None
            raise
        finally:
            self._target_left = max(0.0, self._target_left - (time.monotonic() - asked))

    def _receive(self, request_id: int, deadline: float, max_bytes: int, method: str = "load",
                 timeout_counts: bool = True) -> Any:
        try:
            reply = wire.read_reply(self._sock, deadline, max_bytes)
        except wire.ReplyTimeout:
            self.timeouts += timeout_counts
            self.close()
            what = " while loading" if method == "load" else ""
            raise ImplementationFault(f"timed out after {self.limits.timeout_s:g} s{what}") from None
        except wire.WorkerGone:
            raise ImplementationFault(self._ended()) from None
        except wire.MalformedReply as error:
            self.crashes += 1
            self.close()
            raise ImplementationFault(f"the worker sent a malformed reply: {error}") from None
        if reply.request_id != request_id:
            self.crashes += 1
            self.close()
            raise ImplementationFault(f"the worker sent a malformed reply: an answer to request "
                                      f"{reply.request_id} where {request_id} was asked")
        if method in ("observe", "evaluate"):
            self.crashes = 0  # the implementation's code ran and the worker lives
        if reply.status == "fault":
            raise ImplementationFault(wire.clean_text(reply.body))
        return reply.body

    def _ended(self) -> str:
        self.crashes += 1
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        said = self._last_words()
        self.close()
        return launch.exit_description(code) + (f"; it last wrote: {said}" if said else "")

    def _last_words(self) -> str:
        """The end of what the worker wrote on stderr (a traceback's last line), as clean text."""
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(max(0, os.fstat(self._stderr.fileno()).st_size - 2000))
            lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return wire.clean_text(lines[-1], 300) if lines else ""

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

    def _call(self, method: str, max_bytes: int, *args) -> Any:
        if self._target_left <= 0:
            raise self._budget_spent()
        if self._process is None or self._process.poll() is not None:
            self._start()
        new_case = not self._sent
        request_id, self._next_id = self._next_id, self._next_id + 1
        try:
            wire.write_request(self._sock, (request_id, method, tuple(self._share(a) for a in args), new_case))
        except OSError:
            raise ImplementationFault(self._ended()) from None
        asked = time.monotonic()
        budget = self._budget if self._budget != math.inf else self.limits.timeout_s
        try:
            return self._timed_receive(request_id, asked, budget, max_bytes, method)
        finally:
            if self._budget != math.inf:
                self._budget = max(0.0, self._budget - (time.monotonic() - asked))

    # ---- the requests ----

    def expect(self, cases) -> None:
        """``supports`` for every case about to run, 400 a request (validated as ``supports_each``'s);
        a batch the worker cannot answer (a timeout not counted) leaves its cases to be asked one by one."""
        cases = list(dict.fromkeys(cases))
        for start in range(0, len(cases), 400):  # a reply far below the wire format's header bound
            chunk, timeouts = cases[start:start + 400], self.timeouts
            self.start_case()
            try:
                self._reasons.update(zip(chunk, self.supports_each(chunk)))
            except ImplementationFault:
                self.timeouts = timeouts

    def supports(self, case) -> str | None:
        if case in self._reasons:
            return self._reasons[case]
        return replies.supports_reply(self._call("supports", 1 << 10, case))

    def supports_each(self, cases) -> list[str | None]:
        """``supports`` for every case, in one request (the assignment's worker answers it)."""
        cases = list(cases)
        return replies.supports_each_reply(self._call("supports_each", 1024, cases), len(cases))  # text only: no arrays

    def observe(self, data: CaseData) -> Observation:
        return replies.observation_reply(self._call("observe", replies.observation_bytes(data), data), data)

    def evaluate(self, data: CaseData, probes) -> list[np.ndarray]:
        steps = [np.shape(p.steps) for p in probes]
        body = self._call("evaluate", 8 * sum(math.prod(s) for s in steps) + 1024, data, probes)
        return replies.objective_values(body, steps)

    def timings(self, data: CaseData, rules) -> tuple[Timed, ...]:
        body = self._call("timings", 1 << 10, data, rules)
        if not (isinstance(body, list) and len(body) == len(PHASES)):
            raise replies.malformed("timings must answer with one measurement per phase")
        return tuple(replies.timed_reply(entry, phase) for entry, phase in zip(body, PHASES))

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        if self._process is not None:
            if self._process.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(self._process.pid, signal.SIGKILL)  # the whole process group
                self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
        if self._groups is not None:
            self._groups.remove()
        if self.view.copies:
            handover.release(self.view.copies)
            self.view = replace(self.view, copies=())
        if self._stderr is not None:
            self._stderr.close()
        if self._copy is not None:
            self._copy.remove()
        self._process, self._sock, self._groups, self._stderr, self._copy = None, None, None, None, None

    def __enter__(self) -> WorkerDriver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


# ---- validating replies ------------------------------------------------------------------

def driver_for(target: Target, isolate: bool = True, limits: Limits = Limits()) -> ImplementationDriver:
    """A sandboxed worker's driver; an in-process one only for a class handed over in this
    process that cannot be found from another (or when ``isolate`` is off and the caller
    trusts the code)."""
    if target.plan is not None:  # a graded submission: the instructor's side is decided already
        from conformance.running.planned import PlannedDriver

        return PlannedDriver(driver_for(replace(target, plan=None), isolate, limits), target.plan)
    if target.adapter is None:
        return WorkerDriver(target, limits) if isolate else Driver(target)  # Driver loads it here
    if isolate and launch.locator(target) is not None:
        return WorkerDriver(target, limits)
    return Driver(target)


def describe(target: Target, limits: Limits = Limits()) -> dict:
    """What a target's adapter says of itself (name, description, capabilities), loaded in
    a sandboxed worker that is closed again; ``TargetError`` when it cannot be loaded."""
    from conformance.running.targets import TargetError

    driver = driver_for(target, True, limits)
    try:
        return driver.describe()
    except ImplementationFault as fault:
        raise TargetError(str(fault)) from None
    finally:
        driver.close()

