"""The Python API: run the suite and get its results as pandas tables, e.g. in a notebook.

    import conformance

    results = conformance.run(["reference_numpy"], quick=True)   # one row per implementation × case × check × tensor
    results.groupby(["implementation", "verdict"]).size()

    report = conformance.run_suite(quick=True)                   # results, timings, environment
    report.timings[["implementation", "layers", "phase", "median_s", "torch_median_s", "ratio"]]
    report.write("reports")                                      # csv, summary.md, report.html

``conformance run`` is this, plus a progress bar and the exit code.

A run is assembled here (targets named, the grid, the journal, the report); the work is
dealt by ``execution``, the timing phase is ``running.timing_phase``, and the run's
configuration is ``settings.Options``.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Sequence, Union

import pandas as pd

from conformance.cases.spec import Case
from conformance.cases.grid import default_grid
from conformance.execution import Progress, Run, rows_for
from conformance.judge import expectations as known
from conformance.judge.results import COLUMNS
from conformance.judge.skipped import split
from conformance.oracles.fd_accuracy import grid_accuracy
from conformance.reporting.environment import environment, kink_margin_note
from conformance.reporting.files import Report
from conformance.reporting.tables import TIMING_COLUMNS
from conformance.running import sandbox, targets as registry
from conformance.running.journal import Journal, key_path as journal_key_path
from conformance.running.naming import explained
from conformance.running.targets import Target
from conformance.running.timing_phase import time_targets
from conformance.settings import Options

__all__ = ["Options", "Progress", "grid_name", "run", "run_suite", "targets_named"]


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
    it. On Ctrl-C (or SIGTERM) the report holds the cases that finished and
    says it is partial, and how much finished (``environment["finished"]``).
    """
    targets = targets_named(impls)
    cases = list(cases) if cases is not None else default_grid(seed=seed, quick=quick)
    if expectations is not None:
        options = replace(options, expectations=tuple(expectations))
    expectations = options.known_defects()
    grid = grid_name(cases, seed)
    env = environment(seed, grid, command) | {"sandbox": sandbox.describe() if options.isolate
                                                     else "none (--no-isolation: the code runs in this process)"}
    done = journal.start(resume, targets, cases) if journal is not None else {}
    # The journal's key is no worker's to read (nor are the submissions' own files: see copies).
    key = (str(journal_key_path().parent),) if journal is not None else ()
    hidden = tuple(sorted(set(options.limits.hidden) | set(registry.private_paths(targets, None)) | set(key)))
    options = replace(options, limits=replace(options.limits, hidden=hidden).for_cases(len(cases)),
                      expectations=expectations)
    run = Run(targets, cases, options, options.case_settings(), progress, journal)
    interrupted, timings = False, []
    started = time.perf_counter()
    seconds = {"checking": 0.0, "timing": 0.0}
    try:
        ready = rows_for(run, run.pending(done))
        seconds["checking"] = time.perf_counter() - started
        if options.timed and ready:
            timings = time_targets(ready, run.rows(), cases, options, progress)
            seconds["timing"] = time.perf_counter() - started - seconds["checking"]
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.finish()
        if journal is not None:
            journal.flush()  # the cases that finished since the last write
    so_far = {"finished": f"{run.finished_cases()} of {len(targets) * len(cases)} implementation × case pairs"}
    ran, not_applicable = split(run.rows_so_far() if interrupted else run.rows(), [t.name for t in targets])
    return Report(
        results=pd.DataFrame([r.as_dict() for r in ran], columns=list(COLUMNS)),
        not_applicable=not_applicable,
        timings=pd.DataFrame.from_records(timings, columns=list(TIMING_COLUMNS)),
        environment=env | {"implementations": ", ".join(t.name for t in targets), "cases": len(cases),
                           "jobs": options.jobs, "isolated": options.isolate,
                           "required": options.require.text if options.require else "nothing",
                           "timing_rules": str(options.rules) if options.timed else "not timed",
                           "timing_budget_s": options.timing_budget_s if options.timed else 0,
                           "seconds_checking": round(seconds["checking"], 2),
                           "seconds_timing": round(seconds["timing"], 2),
                           "timing_threads": "1 for NumPy's BLAS and for PyTorch, in a worker process",
                           "relu_kink_margin": kink_margin_note(options.checks)} | (so_far if interrupted else {}),
        expectations=expectations,
        fd_accuracy=None if interrupted or not options.checks.finite_differences or len(run.not_loaded) == len(targets)
        else grid_accuracy(cases),
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
    """The suite's results as a DataFrame, one row per implementation × case × check × tensor
    (a case that did not apply: one ``case`` row, ``not_applicable``, its reason the ``detail``),
    with the columns ``conformance.judge.results.COLUMNS``: ``implementation``, ``case`` and the
    case's fields (``layers``, ``activation``, ``bias``, ``loss``, ``batch``, ``dtype``,
    ``seed``), ``check`` and ``tensor`` compared, ``max_abs_error`` and ``max_rel_error`` at
    the worst element ``worst_index``, the ``tolerance`` applied, ``verdict`` and ``detail``; arguments as
    for ``run_suite``. No timing::

        conformance.run("class_layers", quick=True)
        conformance.run([MyAdapter, "path/to/other.py"])
    """
    untimed = replace(options, timing=False)  # the timings would not be returned
    cases = list(cases) if cases is not None else default_grid(seed=seed, quick=quick)
    report = run_suite(impls, seed=seed, cases=cases, expectations=expectations, options=untimed)
    skipped = pd.DataFrame([r.as_dict() for r in report.not_applicable.rows({c.id: c for c in cases})],
                           columns=list(COLUMNS))
    return pd.concat([report.results, skipped], ignore_index=True) if len(skipped) else report.results
