"""Running targets × cases over several processes (``conformance run --jobs N``).

The cases are dealt round-robin into chunks, and each chunk is one task for a
pool of ``jobs`` processes. A pool process runs every target on the cases of
its chunk, keeping one driver per target for its lifetime (a worker process of
its own per target when isolated), so each case's data and PyTorch oracle are
computed once. ``run_indexed_parallel`` hands results back as chunks finish
(for a progress bar), each with the positions of its target and case, so the
caller can put them in the order of a serial run: the same rows, only sooner.

Pool processes are started with ``spawn``: PyTorch's and NumPy's thread pools
do not survive ``fork`` (a forked child can hang in its first parallel
operation), and a fresh interpreter costs about a second, paid once per
process, in parallel.
"""

from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.util
import os
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Iterator, Sequence

from conformance.judge import expectations as known
from conformance.running.isolation import Limits, driver_for
from conformance.running.targets import Target
from conformance.judge.results import ResultRow
from conformance.runner import Checks, run_case
from conformance.cases.spec import Case

#: Chunks per process: enough to even out cases of unequal cost, few enough that
#: handing them out costs nothing next to running them.
CHUNKS_PER_JOB = 8


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


@dataclass(frozen=True)
class Settings:
    """What every pool process needs to run a case the way a serial run would."""

    expectations: tuple[known.Expectation, ...]
    checks: Checks
    isolate: bool
    limits: Limits


class ChunkRunner:
    """Runs every target on a chunk of cases, with one driver per target kept across chunks."""

    def __init__(self, targets: Sequence[Target], settings: Settings):
        self.targets, self.settings = list(targets), settings
        self.drivers: dict[int, object] = {}

    def run(self, cases: Sequence[Case]) -> list[list[list[ResultRow]]]:
        """For each target, its rows for each case of the chunk."""
        out = []
        for number, target in enumerate(self.targets):
            if number not in self.drivers:
                self.drivers[number] = driver_for(target, self.settings.isolate, self.settings.limits)
            expectations = known.for_target(self.settings.expectations, target)
            out.append([run_case(self.drivers[number], case, expectations, self.settings.checks) for case in cases])
        return out

    def close(self) -> None:
        for driver in self.drivers.values():
            driver.close()
        self.drivers.clear()


_RUNNER: ChunkRunner | None = None  # a pool process's own


def _start_pool_process(targets: Sequence[Target], settings: Settings) -> None:
    global _RUNNER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _RUNNER = ChunkRunner(targets, settings)
    multiprocessing.util.Finalize(None, _RUNNER.close, exitpriority=10)


def _run_chunk(cases: Sequence[Case]) -> list[list[list[ResultRow]]]:
    return _RUNNER.run(cases)


def _run_indexed(
    targets: list[Target], cases: list[Case], jobs: int | None, settings: Settings
) -> Iterator[tuple[int, int, list[ResultRow]]]:
    """(target index, case index, rows) as the chunks finish.

    This process works on the chunks too, next to ``jobs - 1`` pool processes: it
    is ready at once, while a pool process takes about a second to start. Each pool
    process is handed one chunk at a time, so the chunks left when it is ready
    are shared out as they are asked for.
    """
    jobs = usable_jobs(jobs)
    queue = collections.deque(chunks(len(cases), jobs * CHUNKS_PER_JOB))
    here = ChunkRunner(targets, settings)
    helpers = min(jobs - 1, len(queue) - 1)
    pool = None if helpers < 1 else ProcessPoolExecutor(
        max_workers=helpers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_pool_process, initargs=(targets, settings))
    in_flight: dict[Future, tuple[int, ...]] = {}

    def results(chunk: tuple[int, ...], per_target) -> Iterator[tuple[int, int, list[ResultRow]]]:
        for number, rows_per_case in enumerate(per_target):
            for index, rows in zip(chunk, rows_per_case):
                yield number, index, rows

    finished = False
    try:
        while queue or in_flight:
            while pool is not None and queue and len(in_flight) < helpers:
                chunk = queue.popleft()
                in_flight[pool.submit(_run_chunk, [cases[i] for i in chunk])] = chunk
            done, _ = wait(in_flight, timeout=0 if queue else None, return_when=FIRST_COMPLETED)
            for future in done:
                yield from results(in_flight.pop(future), future.result())
            if queue:
                chunk = queue.popleft()
                yield from results(chunk, here.run([cases[i] for i in chunk]))
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


def _settings(expectations, checks: Checks, isolate: bool, limits: Limits) -> Settings:
    return Settings(known.load() if expectations is None else tuple(expectations), checks, isolate, limits)


def run_indexed_parallel(
    targets: Sequence[Target],
    cases: Sequence[Case],
    jobs: int | None,
    expectations: tuple[known.Expectation, ...] | None = None,
    checks: Checks = Checks(),
    isolate: bool = True,
    limits: Limits = Limits(),
) -> Iterator[tuple[int, int, list[ResultRow]]]:
    """(target's position, case's position, its rows) over ``jobs`` processes, in the
    order the chunks finish (positions tell apart cases that are equal)."""
    targets, cases = list(targets), list(cases)
    if targets and cases:
        yield from _run_indexed(targets, cases, jobs, _settings(expectations, checks, isolate, limits))

