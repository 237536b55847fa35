"""How a run runs: one value, built once (by the command line from its options, or by a
caller of the Python API) and passed whole from there to the process that runs a case.

``Options`` is the run's configuration: the oracles, known defects, isolation and the
workers' limits, processes, timing, and the coverage every target must reach.
``CaseSettings`` is the part of it each case needs, what every process running cases
is handed (``Options.case_settings``).
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.judge import expectations as known
from conformance.judge.coverage import Requirement
from conformance.oracles.fd_scheme import Settings as FiniteDifferenceSettings
from conformance.reporting.split import Shard
from conformance.running.limits import Limits
from conformance.running.timing import DEFAULT_BUDGET_S, TIMING_WIDTHS, Rules


#: What a forward that follows a common convention other than the declared ones earns
#: (``Checks.other_convention``; an assignment's ``OTHER_CONVENTION``): "accept", its case is
#: judged under that convention and may pass; "fail", its forward and loss fail, the convention
#: named as the reason (its gradients are still judged under it).
OTHER_CONVENTION = ("accept", "fail")


@dataclass(frozen=True)
class Checks:
    """Which oracles judge the implementation (both by default), what the finite-difference
    checks may spend per case, and what a forward under another convention earns."""

    torch: bool = True
    finite_differences: bool = True
    fd_settings: FiniteDifferenceSettings = FiniteDifferenceSettings()
    other_convention: str = "accept"

    def __post_init__(self) -> None:
        if self.other_convention not in OTHER_CONVENTION:
            raise ValueError(f"other_convention must be one of {', '.join(OTHER_CONVENTION)}, "
                             f"got {self.other_convention!r}")


@dataclass(frozen=True)
class CaseSettings:
    """What running one case needs besides the case: the recorded known defects (each
    applies to the targets it names), the oracles, isolation and the workers' limits."""

    expectations: tuple[known.Expectation, ...] = ()
    checks: Checks = Checks()
    isolate: bool = True
    limits: Limits = Limits()


@dataclass(frozen=True)
class Options:
    """How the suite runs: oracles, known defects, isolation and the workers' limits,
    processes, timing, and the coverage every target must reach (``--require``)."""

    checks: Checks = Checks()
    isolate: bool = True
    limits: Limits = Limits()
    jobs: int = 1
    timing: bool = True
    rules: Rules = Rules()
    #: Seconds the timing phase may take, every target together (see ``timing.shares``).
    timing_budget_s: float = DEFAULT_BUDGET_S
    #: Layer widths the timing cases are scaled to (see ``timing.timing_cases``).
    widths: tuple[int, ...] = TIMING_WIDTHS
    require: Requirement | None = None
    #: Recorded known defects; None: the bundled implementations' own (``expectations.load``).
    expectations: tuple[known.Expectation, ...] | None = None
    #: This run's share of the named targets (``--shard I/N``); None: every one.
    shard: Shard | None = None

    @property
    def timed(self) -> bool:
        """Whether a run with these options has a timing phase."""
        return self.timing and self.timing_budget_s > 0

    def known_defects(self) -> tuple[known.Expectation, ...]:
        return known.load() if self.expectations is None else tuple(self.expectations)

    def case_settings(self) -> CaseSettings:
        return CaseSettings(self.known_defects(), self.checks, self.isolate, self.limits)
