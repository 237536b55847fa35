"""The Python API: run the suite and get its results as pandas tables, e.g. in a notebook.

    import conformance

    results = conformance.run(["reference_numpy"], quick=True)   # one row per implementation × case × check × tensor
    results.groupby(["implementation", "verdict"]).size()

    report = conformance.run_suite(quick=True)                   # results, timings, environment
    report.timings[["implementation", "layers", "phase", "median_s", "torch_median_s", "ratio"]]
    report.write("reports")                                      # csv, summary.md, report.html

``conformance run`` is this, plus a progress bar and the exit code.

Longer than 300 lines: it is the one place a run is assembled (targets loaded lazily,
serial and parallel runs, the journal, timing within its budget, interruption); each
step is a short function.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Sequence, Union

import pandas as pd

from conformance.judge import expectations as known
from conformance.running import targets as registry, sandbox, timing
from conformance.reporting.environment import environment
from conformance.judge.coverage import Requirement, coverage_rows
from conformance.judge.declared import FamilyCoverage, declared_rows, family_coverage
from conformance.contract.adapter import Capabilities
from conformance.running.driver import ImplementationFault
from conformance.running.protocol import ImplementationDriver
from conformance.running.isolation import Limits, driver_for
from conformance.running.naming import explained
from conformance.running.journal import Journal, key_path as journal_key_path
from conformance.running.targets import Target
from conformance.reporting.tables import TIMING_COLUMNS
from conformance.reporting.files import Report
from conformance.judge.results import COLUMNS, ResultRow, case_fields
from conformance.runner import Checks, run_each
from conformance.cases.spec import KINK_MARGIN, KINKED_ACTIVATIONS, Case, NetworkSpec, default_grid, generate
from conformance.running.timing import DEFAULT_BUDGET_S, TIMING_WIDTHS, Rules, fits


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


#: What names an implementation: a built-in or entry point name, ``path/to/file.py[:Class]``
#: or ``module:Class`` (a ``str`` or a ``Path``), an adapter class, or a loaded ``Target``.
Implementation = Union[str, os.PathLike, type, Target]
Implementations = Union[Implementation, Sequence[Implementation], None]


def _target(impl: Implementation) -> Target:
    if isinstance(impl, Target):
        return impl
    if isinstance(impl, type):
        return registry.as_target(impl)
    if isinstance(impl, (str, os.PathLike)):
        spec = os.fspath(impl)
        try:
            return registry.load(spec)
        except registry.TargetError as error:
            raise registry.TargetError(explained(spec, str(error))) from None
    raise TypeError(f"an implementation is a name, a path, an adapter class or a Target, got {type(impl).__name__}")


def targets_named(impls: Implementations) -> list[Target]:
    """The implementations to run: every built-in when none is named; otherwise one or a
    list of names, paths, ``module:Class``, adapter classes or targets
    (``registry.TargetError`` for one that cannot be loaded, with the reason)."""
    if impls is None or (not isinstance(impls, (str, os.PathLike, type, Target)) and not impls):
        return registry.builtins()
    one = isinstance(impls, (str, os.PathLike, type, Target))
    targets: dict[str, Target] = {}
    for impl in [impls] if one else impls:
        target = _target(impl)
        targets.setdefault(target.name, target)
    return list(targets.values())


@dataclass(frozen=True)
class Options:
    """How the suite runs: oracles, isolation and the workers' limits, processes, timing,
    and the coverage every target must reach (``--require``)."""

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


@dataclass
class _Run:
    """One run's bookkeeping: what loading told of each target, and rows as targets finish."""

    targets: list[Target]
    cases: list[Case]
    expectations: tuple[known.Expectation, ...]
    options: Options
    progress: Progress
    journal: Journal | None = None
    labels: dict[str, str] = field(default_factory=dict)
    load_notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_loaded: list[registry.Unloadable] = field(default_factory=list)
    finished: dict[str, list[ResultRow]] = field(default_factory=dict)
    capabilities: dict[str, Capabilities] = field(default_factory=dict)
    coverage: dict[str, tuple[FamilyCoverage, ...]] = field(default_factory=dict)

    def pending(self, done: dict[str, list[ResultRow]]) -> list[Target]:
        """The targets still to run: those a journal already holds are taken from it."""
        self.finished.update({t.name: done[t.name] for t in self.targets if t.name in done})
        return [t for t in self.targets if t.name not in done]

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

    def target_finished(self, target: Target, rows: list[ResultRow], seconds: float) -> None:
        if self.options.require is not None:
            rows = rows + coverage_rows(target.name, self.options.require, self.cases, rows)
        if (capabilities := self.capabilities.get(target.name)) is not None:
            self.coverage[target.name] = family_coverage(capabilities, self.cases, rows)
            rows = rows + declared_rows(target.name, self.coverage[target.name], self.cases)
        self.finished[target.name] = rows
        if self.journal is not None:
            self.journal.record(target.name, rows)
        self.progress.target_done(target, rows, seconds)

    def rows(self) -> list[ResultRow]:
        return [r for t in self.targets for r in self.finished.get(t.name, ())]

def _result_rows(run: _Run, targets: list[Target]) -> list[Target]:
    """Every target on every case, serially, one worker alive at a time; a target's rows
    are kept (and journaled) when its last case is done. The targets that loaded."""
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
        started, mine = time.perf_counter(), []
        for _, case, case_rows in run_each([target], run.cases, run.expectations, run.options.checks,
                                           run.options.isolate, run.options.limits, drivers={target.name: driver}):
            mine += case_rows
            run.progress.case_done(target, case, case_rows)
        run.target_finished(target, mine, time.perf_counter() - started)
    return ready


def _parallel_result_rows(run: _Run, targets: list[Target]) -> list[Target]:
    """``_result_rows`` over ``options.jobs`` processes: progress as cases finish; a
    target is done (with the time since the start) when its last case is. Each target is
    loaded here first (and its worker closed again), so one that cannot be is reported once;
    every process running cases then starts its own worker per target."""
    from conformance.parallel import run_indexed_parallel

    loaded = []
    for target in targets:
        if (driver := run.open(target)) is not None:
            driver.close()
            loaded.append(target)
    targets = loaded
    if targets:
        run.progress.start(targets, len(run.cases))

    started, found = time.perf_counter(), {}
    cases = run.cases
    left = [len(cases)] * len(targets)
    options = run.options
    for number, index, case_rows in run_indexed_parallel(targets, cases, options.jobs, run.expectations,
                                                         options.checks, options.isolate, options.limits):
        found[number, index] = case_rows
        run.progress.case_done(targets[number], cases[index], case_rows)
        left[number] -= 1
        if not left[number]:
            mine = [r for i in range(len(cases)) for r in found[number, i]]
            run.target_finished(targets[number], mine, time.perf_counter() - started)
    return targets


def _target_parallel_result_rows(run: _Run, targets: list[Target]) -> list[Target]:
    """``_result_rows`` with whole targets dealt over ``options.jobs`` processes (many
    targets): each is loaded once, by the process that runs it; a target is done, with
    its own time, when that process hands back its rows."""
    from conformance.parallel import run_targets_parallel

    run.progress.start(targets, len(run.cases))
    options, ready, failures = run.options, set(), {}
    try:
        for number, outcome in run_targets_parallel(targets, run.cases, options.jobs, run.expectations,
                                                    options.checks, options.isolate, options.limits):
            target = targets[number]
            if outcome.description is None:
                failures[number] = registry.Unloadable(target.name, outcome.failure)
                continue
            run.loaded(target, outcome.description)
            ready.add(number)
            run.target_finished(target, [r for rows in outcome.rows for r in rows], outcome.seconds)
    finally:  # in the order the targets were named, as a serial run lists them
        run.not_loaded += [failures[number] for number in sorted(failures)]
    return [t for number, t in enumerate(targets) if number in ready]


def timing_rows(target: Target, case: Case, measured: tuple[timing.Timed, ...] | None, problem: str = "") -> list[dict]:
    """Rows of the timings table for one case (one per phase); NaN times and the reason when it could not be timed."""
    nan = float("nan")
    base = case_fields(target.name, case) | {"n_params": case.spec.n_params}
    if measured is None:
        return [base | {"phase": phase, "detail": problem} for phase in timing.PHASES]
    return [base | {
        "phase": t.phase, "median_s": t.implementation.median_s, "q1_s": t.implementation.q1_s,
        "q3_s": t.implementation.q3_s, "iqr_s": t.implementation.iqr_s, "repeats": t.implementation.repeats,
        "calls_per_repeat": t.implementation.calls_per_repeat, "torch_median_s": t.torch.median_s,
        "torch_iqr_s": t.torch.iqr_s, "ratio": t.ratio if t.torch.median_s > 0 else nan, "detail": "",
    } for t in measured]


def time_target(target: Target, ran: list[Case], options: Options, progress: Progress,
                seconds: float = float("inf")) -> list[dict]:
    """Time the implementation next to PyTorch on the timing cases drawn from the cases it
    ran, narrowest first, in a fresh worker process on one thread (see ``timing``; in this
    process only for an adapter that cannot be found from another one), within ``seconds``:
    a case expected not to fit what is left is not started, and its rows say so."""
    cases = timing.timing_cases(ran, options.widths)
    progress.timing_started(target, len(cases))
    out: list[dict] = []
    started, last, measured, left_out = time.perf_counter(), None, 0, 0  # last: the latest case measured
    driver = driver_for(target, True, options.limits)
    try:
        with timing.single_threaded_workers():
            if cases:
                _start(driver, cases[0])
            for case in cases:
                if not fits(case, last, seconds - (time.perf_counter() - started), options.rules):
                    why = f"not timed: the timing budget ({options.timing_budget_s:g} s for the run) would be exceeded"
                    out += timing_rows(target, case, None, why)
                    left_out += 1
                else:
                    rows, timed = _timed_case(driver, target, case, options)
                    out += rows
                    if timed is not None:
                        last, measured = timed, measured + 1
                progress.timed(target, case)
    finally:
        driver.close()
    progress.timing_done(target, measured, len(cases), time.perf_counter() - started, left_out)
    return out


def _start(driver: ImplementationDriver, case: Case) -> None:
    """Start the worker before the first case, so that no case's time (and estimate) counts
    its start; a worker that cannot start is reported by the case it fails."""
    try:
        driver.start_case()
        driver.supports(case)
    except ImplementationFault:
        pass


def _timed_case(driver: ImplementationDriver, target: Target, case: Case,
                options: Options) -> tuple[list[dict], timing.Measured | None]:
    """The timing rows of one case, and what it measured (None when it was not measured)."""
    driver.start_case()
    try:
        supported = driver.supports(case)
        if supported:
            return timing_rows(target, case, None, f"not timed: {supported}"), None
        started = time.perf_counter()
        data = generate(case)
        generated = time.perf_counter() - started
        measured = driver.timings(data, options.rules)
        return timing_rows(target, case, measured), timing.Measured(case, measured, generated)
    except ImplementationFault as fault:
        return timing_rows(target, case, None, f"error while timing: {fault}"), None


def time_targets(targets: Sequence[Target], rows: list[ResultRow], cases: list[Case], options: Options,
                 progress: Progress) -> list[dict]:
    """Every target timed in turn within ``options.timing_budget_s`` seconds in all: each
    gets an even share, plus what the ones before it left unused (``timing.shares``)."""
    progress.timing_phase(targets, options.timing_budget_s)
    timings: list[dict] = []
    spent: list[float] = []
    for target in targets:
        started = time.perf_counter()
        share = timing.shares(options.timing_budget_s, len(targets), spent)
        timings += time_target(target, _ran_cases(rows, target, cases), options, progress, share)
        spent.append(time.perf_counter() - started)
    return timings


def has_timing(options: Options) -> bool:
    """Whether a run with these options has a timing phase."""
    return options.timing and options.timing_budget_s > 0


def _ran_cases(rows: list[ResultRow], target: Target, cases: list[Case]) -> list[Case]:
    """The cases the target ran to the end without an error (timing anything else says nothing).
    A check left not applicable inside a case that ran (a finite difference too near a
    kink) does not keep the case from being timed."""
    skipped = {r.case for r in rows if r.implementation == target.name
               and (r.verdict == "error" or (r.check == "case" and r.verdict == "not_applicable"))}
    seen = {r.case for r in rows if r.implementation == target.name}
    return [c for c in cases if c.id in seen and c.id not in skipped]


def fd_accuracy(cases: Sequence[Case]) -> pd.DataFrame | None:
    """The finite-difference oracle's own accuracy, measured on up to ``ACCURACY_CASES``
    smooth VJP cases of the grid (float64 data, evenly spread over them), where that oracle
    measures it; None otherwise."""
    try:
        from conformance.oracles.finite_difference import ACCURACY_CASES, accuracy
    except ImportError:
        return None
    smooth = [c for c in cases if isinstance(c.spec, NetworkSpec) and c.spec.loss is None and c.dtype == "float64"
              and not any(layer.activation in KINKED_ACTIVATIONS for layer in c.spec.layers)]
    spread = smooth[::max(1, -(-len(smooth) // ACCURACY_CASES))]
    return accuracy(spread) if spread else None


def kink_margin_note(checks: Checks) -> str:
    """The margin generated data keeps from ReLU kinks, and what the finite-difference rows do about it."""
    text = f"generated ReLU pre-activations keep {KINK_MARGIN} from 0 (spec.KINK_MARGIN)"
    if checks.finite_differences:
        text += ("; each finite-difference row gives the margin its case kept and how far its stencil moved "
                 "pre-activations; an estimate whose stencil would cross a kink is left out, not failed")
    return text


def grid_name(cases: Sequence[Case], seed: int) -> str:
    """What the report calls the cases: ``full`` or ``quick`` when they are that grid, however
    they were chosen (``--quick``, ``--grid quick``, a list), ``custom`` otherwise."""
    grids = {"full": default_grid(seed=seed), "quick": default_grid(seed=seed, quick=True)}
    return next((name for name, grid in grids.items() if list(cases) == grid), "custom")


def run_suite(
    impls: Sequence[str | Target] | str | None = None,
    *,
    quick: bool = False,
    seed: int = 0,
    cases: Sequence[Case] | None = None,
    expectations: tuple[known.Expectation, ...] | None = None,
    options: Options = Options(),
    progress: Progress = Progress(),
    command: str = "",
    journal: Journal | None = None,
    resume: bool = False,
) -> Report:
    """Run the suite and return everything it produced as a ``Report``.

    ``impls`` is one implementation or a list of them: a built-in name,
    ``path/to/file.py[:Class]`` (a ``str`` or a ``Path``), ``module:Class``, an
    adapter class or a ``Target`` (default: every built-in). ``cases`` default to the
    grid (``quick``: every network kind and mode on fewer networks). ``expectations`` default to the
    recorded known defects of the bundled implementations. Each target runs in
    a sandboxed worker that loads it; one that cannot be loaded is listed in
    ``Report.not_loaded``. With a ``journal`` each target's rows are recorded
    as it finishes, and ``resume`` takes the targets a killed run finished from
    it. On Ctrl-C (or SIGTERM) the report holds the targets that finished and
    says it is partial.
    """
    targets = targets_named(impls)
    cases = list(cases) if cases is not None else default_grid(seed=seed, quick=quick)
    expectations = known.load() if expectations is None else tuple(expectations)
    grid = grid_name(cases, seed)
    env = environment(seed, grid, command) | {"sandbox": sandbox.describe() if options.isolate
                                                     else "none (--no-isolation: the code runs in this process)"}
    done = journal.start(resume, targets, cases) if journal is not None else {}
    # The journal's key is no worker's to read (nor are the submissions' own files: see copies).
    key = (str(journal_key_path().parent),) if journal is not None else ()
    hidden = tuple(sorted(set(options.limits.hidden) | set(registry.private_paths(targets, None)) | set(key)))
    options = replace(options, limits=replace(options.limits, hidden=hidden).for_cases(len(cases)))
    run = _Run(targets, cases, expectations, options, progress, journal)
    interrupted, timings = False, []
    started = time.perf_counter()
    seconds = {"checking": 0.0, "timing": 0.0}
    try:
        ready = _result_rows(run, run.pending(done))
        seconds["checking"] = time.perf_counter() - started
        if has_timing(options) and ready:
            timings = time_targets(ready, run.rows(), cases, options, progress)
            seconds["timing"] = time.perf_counter() - started - seconds["checking"]
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.finish()
    return Report(
        results=pd.DataFrame([r.as_dict() for r in run.rows()], columns=list(COLUMNS)),
        timings=pd.DataFrame.from_records(timings, columns=list(TIMING_COLUMNS)),
        environment=env | {"implementations": ", ".join(t.name for t in targets), "cases": len(cases),
                           "jobs": options.jobs, "isolated": options.isolate,
                           "required": options.require.text if options.require else "nothing",
                           "timing_rules": str(options.rules) if has_timing(options) else "not timed",
                           "timing_budget_s": options.timing_budget_s if has_timing(options) else 0,
                           "seconds_checking": round(seconds["checking"], 2),
                           "seconds_timing": round(seconds["timing"], 2),
                           "timing_threads": "1 for NumPy's BLAS and for PyTorch, in a worker process",
                           "relu_kink_margin": kink_margin_note(options.checks)},
        expectations=expectations,
        fd_accuracy=None if interrupted or not options.checks.finite_differences or len(run.not_loaded) == len(targets)
        else fd_accuracy(cases),
        interrupted=interrupted,
        not_loaded=tuple(run.not_loaded),
        labels=dict(run.labels),
        load_notes=dict(run.load_notes),
        coverage=dict(run.coverage),
    )


def run(
    impls: Sequence[str | Target] | str | None = None,
    *,
    quick: bool = False,
    seed: int = 0,
    cases: Sequence[Case] | None = None,
    expectations: tuple[known.Expectation, ...] | None = None,
    options: Options = Options(timing=False),
) -> pd.DataFrame:
    """The suite's results as a DataFrame, one row per implementation × case × check × tensor,
    with the columns ``conformance.judge.results.COLUMNS``: ``implementation``, ``case`` and the
    case's fields (``layers``, ``activation``, ``bias``, ``loss``, ``batch``, ``dtype``,
    ``seed``), ``check`` and ``tensor`` compared, ``max_abs_error`` and ``max_rel_error`` at
    the worst element ``worst_index``, the ``tolerance`` applied, ``verdict`` and ``detail``; arguments as
    for ``run_suite``. No timing::

        conformance.run("class_layers", quick=True)
        conformance.run([MyAdapter, "path/to/other.py"])
    """
    untimed = replace(options, timing=False)  # the timings would not be returned
    return run_suite(impls, quick=quick, seed=seed, cases=cases, expectations=expectations, options=untimed).results
