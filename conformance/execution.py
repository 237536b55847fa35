"""Running targets over cases, serially or over processes, into rows as targets finish:
what ``api.run_suite`` hands its work to. A run keeps what loading told of each target
and its rows (journaled as cases finish, serially or dealt by case, and as each target
finishes; an interrupted run's report also holds the cases that finished of the others,
and a resumed one runs only the cases its journal lacks); ``rows_for`` chooses how the work
is dealt: serially, by case over ``parallel``'s pool (few targets), or by target (a class).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from conformance.cases.spec import Case
from conformance.contract.adapter import Capabilities
from conformance.judge.coverage import coverage_rows
from conformance.judge.declared import FamilyCoverage, declared_rows, family_coverage
from conformance.judge.results import ResultRow
from conformance.runner import run_each
from conformance.running import targets as registry
from conformance.running.driver import ImplementationFault
from conformance.running.isolation import driver_for
from conformance.running.journal import Journal
from conformance.running.targets import Target
from conformance.settings import CaseSettings, Options


class Progress:
    """What a run tells as it goes; this one tells nothing (the command line shows a bar)."""

    def start(self, targets: Sequence[Target], cases: int) -> None: ...

    def case_done(self, target: Target, case: Case, rows: list[ResultRow]) -> None: ...

    def target_done(self, target: Target, rows: list[ResultRow], seconds: float) -> None: ...

    def timing_phase(self, targets: Sequence[Target], budget_s: float) -> None:
        """The timing phase starts: ``targets`` are timed within ``budget_s`` seconds in all."""

    def timing_started(self, target: Target, cases: int) -> None: ...

    def timed(self, target: Target, case: Case) -> None: ...

    def timing_done(self, target: Target, timed: int, cases: int, seconds: float, left_out: int = 0) -> None:
        """``timed`` of the target's ``cases`` timing cases were measured, in ``seconds``;
        ``left_out`` were not started, for the budget."""

    def finish(self) -> None: ...


@dataclass
class Run:
    """One run's bookkeeping: what loading told of each target, and rows as targets finish."""

    targets: list[Target]
    cases: list[Case]
    options: Options
    settings: CaseSettings
    progress: Progress
    journal: Journal | None = None
    labels: dict[str, str] = field(default_factory=dict)
    load_notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_loaded: list[registry.Unloadable] = field(default_factory=list)
    finished: dict[str, list[ResultRow]] = field(default_factory=dict)
    #: Rows of the cases that finished (by position), of targets not finished yet (kept for an
    #: interrupted run; a resumed run starts with the journal's).
    partial: dict[str, dict[int, list[ResultRow]]] = field(default_factory=dict)
    capabilities: dict[str, Capabilities] = field(default_factory=dict)
    coverage: dict[str, tuple[FamilyCoverage, ...]] = field(default_factory=dict)

    def pending(self, done: dict[str, list[ResultRow]]) -> list[Target]:
        """The targets still to run: those a journal already holds are taken from it (and the
        cases it holds of the others)."""
        self.finished.update({t.name: done[t.name] for t in self.targets if t.name in done})
        if self.journal is not None:
            self.partial.update({t.name: dict(self.journal.partial[t.name]) for t in self.targets
                                 if t.name in self.journal.partial and t.name not in done})
        return [t for t in self.targets if t.name not in done]

    def left(self, target: Target) -> list[int]:
        """The positions of the cases ``target`` has still to run."""
        done = self.partial.get(target.name, {})
        return [index for index in range(len(self.cases)) if index not in done]

    def open(self, target: Target):
        """The target's driver, its worker started and the target loaded there (its name and
        capabilities come back as data); None, and a ``not_loaded`` entry, if it cannot be."""
        try:
            driver = driver_for(target, self.options.isolate, self.options.limits)
            description = driver.describe()
        except (ImplementationFault, registry.TargetError) as fault:
            self.not_loaded.append(registry.Unloadable(target.name, str(fault)))
            return None
        self.loaded(target, description)
        return driver

    def loaded(self, target: Target, description: dict) -> None:
        """Keep what the target's worker told when it loaded: its name and load notes."""
        self.labels[target.name] = description["name"]
        self.load_notes[target.name] = tuple(description.get("notes", ()))
        if isinstance(description.get("capabilities"), Capabilities):
            self.capabilities[target.name] = description["capabilities"]

    def case_finished(self, target: Target, index: int, rows: list[ResultRow]) -> None:
        """The case at ``index`` of a target is done: its rows kept (and journaled) until the
        target is, then shown."""
        self.partial.setdefault(target.name, {})[index] = rows
        if self.journal is not None:
            self.journal.case_done(target.name, index, rows)
        self.progress.case_done(target, self.cases[index], rows)

    def finished_cases(self) -> int:
        """Target × case pairs done: every case of a finished target, and the finished cases of the others."""
        return len(self.finished) * len(self.cases) + sum(map(len, self.partial.values()))

    def rows_so_far(self) -> list[ResultRow]:
        """The finished targets' rows, then those of the cases that finished of the others."""
        return self.rows() + [r for t in self.targets if t.name not in self.finished
                              for _, rows in sorted(self.partial.get(t.name, {}).items()) for r in rows]

    def target_finished(self, target: Target, seconds: float) -> None:
        """Every case of ``target`` is done: its rows in the order of the cases, and those its
        requirements and declared coverage add."""
        by_case = self.partial.pop(target.name, {})
        rows = [r for index in range(len(self.cases)) for r in by_case.get(index, ())]
        added: list[ResultRow] = []
        if self.options.require is not None:
            within = target.plan.applicable() if target.plan is not None else None
            added += coverage_rows(target.name, self.options.require, self.cases, rows, within)
        if (capabilities := self.capabilities.get(target.name)) is not None:
            self.coverage[target.name] = family_coverage(capabilities, self.cases, rows + added)
            added += declared_rows(target.name, self.coverage[target.name], self.cases, capabilities)
        self.finished[target.name] = rows + added
        if self.journal is not None:
            self.journal.record(target.name, by_case, added)
        self.progress.target_done(target, rows + added, seconds)

    def rows(self) -> list[ResultRow]:
        return [r for t in self.targets for r in self.finished.get(t.name, ())]


def rows_for(run: Run, targets: list[Target]) -> list[Target]:
    """Every target on every case (serially, one worker alive at a time, or over
    ``options.jobs`` processes); a target's rows are kept (and journaled) when its last
    case is done. The targets that loaded."""
    from conformance.parallel import splits_by_target

    if run.options.jobs != 1 and splits_by_target(len(targets), run.options.jobs):
        return _target_parallel_result_rows(run, targets)
    if run.options.jobs != 1 and len(run.cases) > 1:
        return _parallel_result_rows(run, targets)
    ready = []
    for number, target in enumerate(targets):
        if (driver := run.open(target)) is None:
            continue
        if not ready:  # said once something runs: a run whose one target cannot be loaded is one line
            run.progress.start(targets[number:], len(run.cases))
        ready.append(target)
        started = time.perf_counter()
        left = run.left(target)
        cases = [run.cases[index] for index in left]
        for index, (_, _, case_rows) in zip(left, run_each([target], cases, run.settings,
                                                          drivers={target.name: driver})):
            run.case_finished(target, index, case_rows)
        run.target_finished(target, time.perf_counter() - started)
    return ready


def _parallel_result_rows(run: Run, targets: list[Target]) -> list[Target]:
    """``rows_for`` over ``options.jobs`` processes: progress as cases finish; a
    target is done (with the time since the start) when its last case is. Each target is
    loaded here first, so one that cannot be is reported once; this process runs its share
    of the cases on those workers, and every pool process starts its own per target."""
    from conformance.parallel import run_indexed_parallel

    loaded, opened = [], {}
    try:
        for target in targets:
            if (driver := run.open(target)) is not None:
                opened[len(loaded)] = driver
                loaded.append(target)
        targets = loaded
        if targets:
            run.progress.start(targets, len(run.cases))

        started = time.perf_counter()
        left = [len(run.left(target)) for target in targets]
        done = {number: set(run.partial.get(target.name, {})) for number, target in enumerate(targets)}
        for number in [number for number, count in enumerate(left) if not count]:  # its journal held every case
            run.target_finished(targets[number], time.perf_counter() - started)
        for number, index, case_rows in run_indexed_parallel(targets, run.cases, run.options.jobs, run.settings,
                                                             done, opened):
            run.case_finished(targets[number], index, case_rows)
            left[number] -= 1
            if not left[number]:
                run.target_finished(targets[number], time.perf_counter() - started)
        return targets
    finally:  # the workers the run did not take over (it closes those it did, and empties ``opened``)
        for driver in opened.values():
            driver.close()


def _target_parallel_result_rows(run: Run, targets: list[Target]) -> list[Target]:
    """``rows_for`` with whole targets dealt over ``options.jobs`` processes (many
    targets): each is loaded once, by the process that runs it; a target is done, with
    its own time, when that process hands back its rows."""
    from conformance.parallel import run_targets_parallel

    run.progress.start(targets, len(run.cases))
    ready, failures = set(), {}
    try:
        left = {number: tuple(run.left(target)) for number, target in enumerate(targets)}
        for number, outcome in run_targets_parallel(targets, run.cases, run.options.jobs, run.settings, left):
            target = targets[number]
            if outcome.description is None:
                failures[number] = registry.Unloadable(target.name, outcome.failure)
                continue
            run.loaded(target, outcome.description)
            ready.add(number)
            # its cases journaled as it ends: they were run in another process
            run.partial.setdefault(target.name, {}).update(zip(left[number], map(list, outcome.rows)))
            run.target_finished(target, outcome.seconds)
    finally:  # in the order the targets were named, as a serial run lists them
        run.not_loaded += [failures[number] for number in sorted(failures)]
    return [t for number, t in enumerate(targets) if number in ready]
