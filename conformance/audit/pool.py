"""The audit on several processes: the grid cut into contiguous runs of cases, each audited by a
pool process, the results put back in case order (so the first wrong diagnosis a mutant got is
the one a serial run reports).

Mutants are the suite's own code, named by their library names: a pool process takes them from
``mutants.MUTANTS`` again (their expectations hold lambdas, which do not pickle), and sends back
plain tuples. One thread of NumPy's BLAS and of PyTorch per process: their threads would
otherwise spin on each other's core.
"""

from __future__ import annotations

import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence

from conformance.cases.spec import Case
from conformance.running.threads import one_thread_per_process

#: Pieces per process: small enough that the last one does not leave a core idle for long.
PIECES_PER_JOB = 8


def pieces(cases: Sequence[Case], jobs: int) -> list[list[Case]]:
    """``cases`` cut into contiguous runs, in order."""
    count = max(1, min(len(cases), jobs * PIECES_PER_JOB))
    bounds = [len(cases) * i // count for i in range(count + 1)]
    return [list(cases[a:b]) for a, b in zip(bounds, bounds[1:]) if b > a]


def _start() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    one_thread_per_process()


def in_pool(jobs: int, mutant_piece: Callable, alarm_piece: Callable, names: tuple[str, ...],
            cases: Sequence[Case], correct: Sequence[str], false_alarm_cases: Sequence[Case],
            progress: Callable | None = None):
    """The mutants named on ``cases`` (``mutant_piece(names, cases)``: per mutant, cases run,
    failing, right, first wrong example) and the ``correct`` implementations on
    ``false_alarm_cases`` (``alarm_piece(name, cases)``), on ``jobs`` processes; both pieces
    are module-level functions, which a pool process finds again by name."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_start) as pool:
        mutant_runs = [(piece, pool.submit(mutant_piece, names, piece)) for piece in pieces(cases, jobs)]
        alarm_runs = {name: [pool.submit(alarm_piece, name, piece)
                             for piece in pieces(false_alarm_cases, jobs)] for name in correct}
        per_mutant = [[0, [], [], None] for _ in names]
        for piece, future in mutant_runs:
            for merged, (ran, failing, right, wrong) in zip(per_mutant, future.result()):
                merged[0] += ran
                merged[1] += failing
                merged[2] += right
                merged[3] = merged[3] or wrong
            for case in piece if progress else ():
                progress(case)
        alarms = {name: [future.result() for future in futures] for name, futures in alarm_runs.items()}
    return per_mutant, alarms
