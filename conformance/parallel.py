"""Running targets × cases over several processes (``conformance run --jobs N``).

The cases are dealt round-robin into chunks, and each chunk is one task for a
pool of ``jobs`` processes. A pool process runs every target on the cases of
its chunk, keeping one driver per target for its lifetime (a worker process of
its own per target when isolated), so each case's data and PyTorch oracle are
computed once. ``run_indexed_parallel`` hands results back as chunks finish
(for a progress bar), each with the positions of its target and case, so the
caller can put them in the order of a serial run: the same rows, only sooner.

With many targets (a class of submissions) the work is split by target
instead (``run_targets_parallel``): a pool process loads a target, runs it on
every case and closes its worker, as a serial run does. Each target is loaded
once, in the process that runs it, and one worker per pool process is alive at
a time; dealing cases would load every target in every process.

Pool processes are started with ``spawn``: PyTorch's and NumPy's thread pools
do not survive ``fork`` (a forked child can hang in its first parallel
operation), and a fresh interpreter costs about a second, paid once per
process, in parallel.

Longer than 300 lines: the two ways of dealing work (by case, by target), each with its pool's
start, stop and interruption, belong together.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Iterator, Sequence

from conformance.judge import expectations as known
from conformance.running.driver import ImplementationFault
from conformance.running.isolation import driver_for
from conformance.running.targets import Target, TargetError
from conformance.running.threads import one_thread_per_process
from conformance.judge.results import ResultRow
from conformance.runner import expect, run_case
from conformance.settings import CaseSettings
from conformance.cases.spec import Case

#: Targets per process from which a run is split by target rather than by case:
#: with that many, the last target to finish costs little next to the whole run.
TARGETS_PER_JOB = 4

#: Chunks per process: enough to even out cases of unequal cost, few enough that
#: handing them out costs nothing next to running them.
CHUNKS_PER_JOB = 8
#: The most cases in a chunk: a chunk's rows reach the parent when it is done, so Ctrl-C keeps
#: the work of all but the last few seconds of each process.
CASES_PER_CHUNK = 16
#: Case runs (cases × targets) a pool process must have to pay for itself: it costs about two
#: seconds to start (an interpreter importing PyTorch, then a worker per target), a case a few
#: tens of milliseconds per target. A smaller run is quicker in this process alone.
CASE_RUNS_PER_HELPER = 64


@contextlib.contextmanager
def _spawning():
    """Pool processes started with Ctrl-C ignored: a spawned interpreter keeps an ignored SIGINT,
    so Ctrl-C while it imports (before ``_start_pool_process``) prints no traceback from it; the
    parent takes Ctrl-C again at once (``submit`` starts processes as they are needed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def usable_jobs(jobs: int | None) -> int:
    """``jobs`` checked; 0 or None means one per core."""
    if jobs is None or jobs == 0:
        return os.cpu_count() or 1
    if jobs < 0:
        raise ValueError(f"--jobs takes a number of processes (0 for one per core), got {jobs}")
    return jobs


def chunks(n_cases: int, n_chunks: int) -> list[tuple[int, ...]]:
    """Case indices dealt round-robin into at most ``n_chunks`` non-empty chunks, so that
    neighbouring cases of the grid (often of similar cost) spread over all chunks."""
    n_chunks = max(1, min(n_chunks, n_cases))
    return [tuple(range(start, n_cases, n_chunks)) for start in range(n_chunks)]


class ChunkRunner:
    """Runs every target on a chunk of cases, with one driver per target kept across chunks
    (``done``: by target's position, the positions of cases it has already run)."""

    def __init__(self, targets: Sequence[Target], settings: CaseSettings, done: dict[int, set[int]] | None = None,
                 drivers: dict[int, object] | None = None):
        self.targets, self.settings, self.done = list(targets), settings, done or {}
        #: By target's position; ``drivers`` given: workers already started, closed (and the
        #: mapping emptied) by ``close``.
        self.drivers: dict[int, object] = {} if drivers is None else drivers

    def run(self, chunk: Sequence[tuple[int, Case]]) -> list[list[list[ResultRow] | None]]:
        """For each target, its rows for each case of the chunk (given with its position; None: already run)."""
        out = []
        for number, target in enumerate(self.targets):
            cases = [case for index, case in chunk if index not in self.done.get(number, ())]
            if not cases:
                out.append([None] * len(chunk))
                continue
            if number not in self.drivers:
                self.drivers[number] = driver_for(target, self.settings.isolate, self.settings.limits)
            expectations = known.for_target(self.settings.expectations, target)
            expect(self.drivers[number], cases)
            out.append([None if index in self.done.get(number, ()) else run_case(
                self.drivers[number], case, expectations, self.settings.checks) for index, case in chunk])
        return out

    def close(self) -> None:
        for driver in self.drivers.values():
            driver.close()
        self.drivers.clear()


_RUNNER: ChunkRunner | None = None  # a pool process's own


def _start_pool_process(targets: Sequence[Target], settings: CaseSettings, done: dict[int, set[int]]) -> None:
    global _RUNNER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    one_thread_per_process()
    _RUNNER = ChunkRunner(targets, settings, done)
    multiprocessing.util.Finalize(None, _RUNNER.close, exitpriority=10)


def _run_chunk(chunk: Sequence[tuple[int, Case]]) -> list[list[list[ResultRow] | None]]:
    return _RUNNER.run(chunk)


def _run_indexed(
    targets: list[Target], cases: list[Case], jobs: int | None, settings: CaseSettings, done: dict[int, set[int]],
    opened: dict[int, object] | None = None,
) -> Iterator[tuple[int, int, list[ResultRow]]]:
    """(target index, case index, rows) as the chunks finish.

    This process works on the chunks too, next to ``jobs - 1`` pool processes: it
    is ready at once, while a pool process takes a second or two to start (so a run too
    small to pay for one has none). Each pool
    process has two chunks handed to it at a time, so the chunks left when it is ready
    are shared out as they are asked for.
    """
    jobs = usable_jobs(jobs)
    queue = collections.deque(chunks(len(cases), max(jobs * CHUNKS_PER_JOB, -(-len(cases) // CASES_PER_CHUNK))))
    here = ChunkRunner(targets, settings, done, opened)
    helpers = min(jobs - 1, len(queue) - 1, len(cases) * len(targets) // CASE_RUNS_PER_HELPER)
    pool = None if helpers < 1 else ProcessPoolExecutor(
        max_workers=helpers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_pool_process, initargs=(targets, settings, done))
    in_flight: dict[Future, tuple[int, ...]] = {}

    def results(chunk: tuple[int, ...], per_target) -> Iterator[tuple[int, int, list[ResultRow]]]:
        for number, rows_per_case in enumerate(per_target):
            for index, rows in zip(chunk, rows_per_case):
                if rows is not None:
                    yield number, index, rows

    finished = False
    try:
        while queue or in_flight:
            # Two chunks in flight per pool process: the next waits for it while this process runs a
            # chunk of its own (with one, a pool process idled until this one came back to hand out more).
            while pool is not None and queue and len(in_flight) < 2 * helpers:
                chunk = queue.popleft()
                with _spawning():
                    in_flight[pool.submit(_run_chunk, [(i, cases[i]) for i in chunk])] = chunk
            done, _ = wait(in_flight, timeout=0 if queue else None, return_when=FIRST_COMPLETED)
            for future in done:
                yield from results(in_flight.pop(future), future.result())
            if queue:
                chunk = queue.popleft()
                yield from results(chunk, here.run([(i, cases[i]) for i in chunk]))
        finished = True
    except BrokenProcessPool:
        raise RuntimeError("a parallel process died while running an implementation in its own process; "
                           "run with isolation (the default) so that a crash becomes an error row") from None
    finally:
        here.close()
        if pool is not None:
            if finished:
                pool.shutdown(wait=True)
            else:
                _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the pool now: after an interruption the processes do not finish their chunks."""
    pool.shutdown(wait=False, cancel_futures=True)
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way before Python 3.14
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()


def run_indexed_parallel(
    targets: Sequence[Target],
    cases: Sequence[Case],
    jobs: int | None,
    settings: CaseSettings,
    done: dict[int, set[int]] | None = None,
    opened: dict[int, object] | None = None,
) -> Iterator[tuple[int, int, list[ResultRow]]]:
    """(target's position, case's position, its rows) over ``jobs`` processes, in the
    order the chunks finish (positions tell apart cases that are equal); ``done``, by
    target's position, the positions of the cases it need not run (a resumed run's);
    ``opened``, by target's position, drivers this process has started already: it runs
    its share of the cases on them (and closes them) instead of starting its own."""
    targets, cases = list(targets), list(cases)
    if targets and cases:
        yield from _run_indexed(targets, cases, jobs, settings, done or {}, opened)


# ---- split by target ------------------------------------------------------------------------

def splits_by_target(n_targets: int, jobs: int | None) -> bool:
    """Whether a run of ``n_targets`` over ``jobs`` processes deals whole targets."""
    jobs = usable_jobs(jobs)
    return jobs > 1 and n_targets >= TARGETS_PER_JOB * jobs


@dataclass(frozen=True)
class TargetRun:
    """One target run on every case: what its worker told when it loaded (None when it
    could not be loaded, with the reason), its rows case by case, and how long it took."""

    description: dict | None
    failure: str = ""
    rows: tuple[tuple[ResultRow, ...], ...] = ()
    seconds: float = 0.0


def run_target(target: Target, cases: Sequence[Case], settings: CaseSettings) -> TargetRun:
    """Load the target (its worker started), run it on every case, close its worker."""
    started = time.perf_counter()
    try:
        driver = driver_for(target, settings.isolate, settings.limits)
        description = driver.describe()
    except (ImplementationFault, TargetError) as fault:
        return TargetRun(None, str(fault), seconds=time.perf_counter() - started)
    expectations = known.for_target(settings.expectations, target)
    try:
        expect(driver, cases)
        rows = tuple(tuple(run_case(driver, case, expectations, settings.checks)) for case in cases)
    finally:
        driver.close()
    return TargetRun(description, rows=rows, seconds=time.perf_counter() - started)


_WORK: tuple[list[Target], list[Case], CaseSettings] | None = None  # a pool process's own


def _start_target_process(targets: Sequence[Target], cases: Sequence[Case], settings: CaseSettings,
                          left: dict[int, tuple[int, ...]]) -> None:
    global _WORK
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    one_thread_per_process()
    _WORK = (list(targets), list(cases), settings, left)


def _run_target_number(number: int) -> TargetRun:
    targets, cases, settings, left = _WORK
    mine = cases if number not in left else [cases[index] for index in left[number]]
    return run_target(targets[number], mine, settings)


def run_targets_parallel(
    targets: Sequence[Target],
    cases: Sequence[Case],
    jobs: int | None,
    settings: CaseSettings,
    left: dict[int, tuple[int, ...]] | None = None,
) -> Iterator[tuple[int, TargetRun]]:
    """(target's position, its run) over ``jobs`` pool processes, as targets finish (``left``,
    by target's position, the positions of the cases it has still to run; default all).

    This process only hands out targets and takes their rows: it stays free to pass
    each finished target on (journal, progress) while every core runs targets."""
    targets, cases = list(targets), list(cases)
    if not (targets and cases):
        return
    pool = ProcessPoolExecutor(max_workers=min(usable_jobs(jobs), len(targets)),
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_target_process, initargs=(targets, cases, settings, left or {}))
    finished = False
    try:
        with _spawning():
            pending = {pool.submit(_run_target_number, number): number for number in range(len(targets))}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
        finished = True
    except BrokenProcessPool:
        raise RuntimeError("a parallel process died while running an implementation in its own process; "
                           "run with isolation (the default) so that a crash becomes an error row") from None
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop(pool)
