"""What one sandboxed worker may spend and see (``Limits``), and the defaults of the command
line's ``--timeout``, ``--memory`` and ``--target-budget``."""

from __future__ import annotations

from dataclasses import dataclass, replace

DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MEMORY_MB = 4096
#: A target's default time budget per case, as a share of the timeout: a tenth of it is many
#: times what an honest submission spends on an average case, slow notebooks included.
BUDGET_PER_CASE = 0.1
MIN_CASE_BUDGET_S = 1.0


@dataclass(frozen=True)
class Limits:
    """What one worker may spend and see: wall time per case (and for loading), address
    space, CPU seconds over its life, bytes per file it writes, processes, its private
    ``/tmp`` and ``/dev/shm``; how many timeouts, or worker deaths in a row, a target may
    have before it gets no more cases; and the paths no worker may see (the run's
    submissions, its own too: a worker reads its private copy, see ``copies``; the report
    folder; the journal's key)."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    cpu_s: int = 1800
    file_mb: int = 64
    processes: int = 128
    tmp_mb: int = 64
    shm_mb: int = 64
    max_timeouts: int = 2
    max_crashes: int = 3
    hidden: tuple[str, ...] = ()
    #: Seconds a target's worker may spend answering, loading included, over the whole run
    #: (None: none, until ``for_cases`` gives the default for a grid).
    target_budget_s: float | None = None

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.memory_mb <= 0:
            raise ValueError("time and memory limits must be positive")
        if self.target_budget_s is not None and not self.target_budget_s > 0:
            raise ValueError("a target's time budget must be positive")

    @property
    def load_s(self) -> float:
        """Wall time loading a target may take (a notebook's cells each get ``timeout_s``)."""
        return max(3 * self.timeout_s, 10.0)

    def for_cases(self, n_cases: int) -> Limits:
        """These limits with a target budget for ``n_cases``: the one given, else by default
        loading's time and ``BUDGET_PER_CASE`` of the timeout per case (at least
        ``MIN_CASE_BUDGET_S``)."""
        if self.target_budget_s is not None:
            return self
        per_case = max(BUDGET_PER_CASE * self.timeout_s, MIN_CASE_BUDGET_S)
        return replace(self, target_budget_s=round(self.load_s + per_case * n_cases, 1))
