"""``conformance check``: the suite on each named implementation, a few lines per target that
say whether it conforms and, where it does not, what is wrong, and the report written as
``conformance run`` writes it, plus ``targets.csv``.

Targets are anything ``running.targets.load_all`` accepts (files, ``module:Class``,
entry point names, folders and globs of submissions). A target that cannot be loaded
becomes a ``TargetResult`` with the reason and no rows; the others still run, each in its
own worker process (unless isolation is turned off), through ``pipeline``. The verdict
model is ``conformance.reporting.verdicts``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence, TextIO

from conformance import pipeline
from conformance.cases.spec import Case
from conformance.cases.grid import default_grid
from conformance.judge import expectations as known
from conformance.reporting.files import ReportError
from conformance.reporting.verdicts import TargetResult, aligned, exit_code, render_target, summary_table
from conformance.running.limits import Limits
from conformance.running.survey import ignored_line
from conformance.running.targets import Target, Unloadable, ignored, load_all
from conformance.settings import Options


def check_target(
    target: Target,
    cases: Sequence[Case],
    expectations: tuple[known.Expectation, ...] = (),
    isolate: bool = True,
    limits: Limits = Limits(),
) -> TargetResult:
    """Every case on one target, through the runner (in a sandboxed worker when isolated);
    no timing. A target its worker cannot load is a ``not loaded`` result."""
    from conformance import api

    start = time.perf_counter()
    options = Options(isolate=isolate, limits=limits, timing=False, expectations=tuple(expectations))
    report = api.run_suite([target], cases=cases, options=options)
    results = pipeline.results_of([target], report, {}, len(cases))
    return replace(results[0], seconds=time.perf_counter() - start)


def command(
    targets: Sequence[str],
    *,
    quick: bool = False,
    seed: int = 0,
    out: Path | str = "reports",
    options: Options | None = None,
    progress=None,
    command_line: str = "",
    resume: bool = False,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
    junit_xml: Path | str | None = None,
    cases: Sequence[Case] | None = None,
) -> int:
    """``conformance check``: run the suite on the named targets, print a block per target
    (and one summary row per target when there are several), write the full report to
    ``out`` as ``conformance run`` does plus ``targets.csv``, and return the exit code.

    A target that cannot be loaded is one line on stderr and a ``not loaded`` row; the
    others still run. ``options`` are the run's ``settings.Options`` (isolation, limits,
    jobs, timing, required coverage, known defects: by default the bundled
    implementations'); ``cases`` default to the grid. Each target's rows are journaled in
    ``out`` as it finishes (``resume`` continues a run that was killed); ``junit_xml``
    names a file for the verdicts as JUnit XML."""
    from conformance.running.naming import explained

    started = time.perf_counter()
    loaded = [replace(item, reason=explained(item.source, item.reason)) if isinstance(item, Unloadable) else item
              for item in load_all(targets)]
    for item in loaded:
        if isinstance(item, Unloadable):
            print(f"conformance check: error: {item.reason}", file=stderr)
    announce(loaded, ignored(list(targets)), "conformance check", stderr)
    runnable = [item for item in loaded if isinstance(item, Target)]
    if not runnable:
        return 2
    existed = Path(out).exists()
    folder = pipeline.report_folder(out)
    cases = list(cases) if cases is not None else default_grid(seed=seed, quick=quick)
    checked = pipeline.check_targets(loaded, cases, options or Options(), folder=folder, seed=seed,
                                     command=command_line, progress=progress, resume=resume)
    report, results = checked.report, checked.results
    for line in checked.rejected:
        print(f"conformance check: --resume: {line}", file=stderr)
    for item in report.not_loaded:
        print(f"conformance check: error: {loading_error(item, runnable)}", file=stderr)
    if len(report.not_loaded) == len(runnable) and not report.interrupted:
        if not existed and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # nothing could be loaded: no report, as when nothing could be named
        return 2
    failed = pipeline.write_parts([  # the grade sheet first: a failing report file cannot lose it
        ("targets.csv", pipeline.sheet_part(folder, summary_table(results))),
        ("the report", pipeline.report_part(checked)),
        ("the JUnit file", pipeline.junit_part(checked, Path(junit_xml) if junit_xml is not None else None)),
    ])
    pipeline.finish(checked, failed)
    print_results(results, report, len(runnable), time.perf_counter() - started, folder, stdout)
    if failed:
        raise ReportError("; ".join(failed))
    if report.interrupted:
        print("conformance check: interrupted; the report holds the targets that finished (marked partial); "
              "--resume continues", file=stderr)
        return 130
    return exit_code(results)


def print_results(results: Sequence[TargetResult], report, n: int, seconds: float, folder: Path,
                  stdout: TextIO) -> None:
    """How long the ``n`` loadable targets took, a block per target that ran, the summary
    table when there are several, and where the report is."""
    several = len(results) > 1
    print(f"conformance check: {n} target{'s' * (n > 1)}, {took(report, seconds)}\n", file=stdout)
    for result in results:
        if not result.load_error and not result.not_run:
            print(render_target(result, max_problems=4 if several else 8), end="\n\n" if several else "\n",
                  file=stdout)
    if several:
        print(aligned(summary_table(results)), file=stdout)
    print(f"sandbox: {report.environment.get('sandbox', 'none')}", file=stdout)
    print(f"report: {folder / 'summary.md'} · {folder / 'report.html'} · {folder / 'targets.csv'}", file=stdout)


def announce(loaded: Sequence[Target | Unloadable], ignored_entries: list[str], prog: str, stderr: TextIO) -> None:
    """Once per run: what the folders named hold that is no one's, and targets that are one file."""
    if ignored_entries:
        print(f"{prog}: {ignored_line(ignored_entries)}", file=stderr)
    for item in loaded:
        for flag in getattr(item, "flags", ()):
            print(f"{prog}: flagged: {flag}", file=stderr)


def loading_error(item: Unloadable, targets: Sequence[Target]) -> str:
    """A target's load failure in one line that names it (once)."""
    target = next((t for t in targets if t.name == item.source), None)
    given = target.locator.given if target is not None and target.locator is not None else None
    return item.reason if item.source in item.reason or (given and given in item.reason) else \
        f"{item.source}: {item.reason}"


def took(report, seconds: float) -> str:
    """How long the whole command took, and its phases."""
    env = report.environment
    checking, timed = env.get("seconds_checking", 0.0), env.get("seconds_timing", 0.0)
    timing = f"timing {timed:.1f} s (budget {env['timing_budget_s']:g} s)" if timed else "no timing"
    rest = max(seconds - checking - timed, 0.0)
    return (f"{env.get('cases', 0)} cases in {seconds:.1f} s in all: checking {checking:.1f} s, {timing}, "
            f"loading and writing the report {rest:.1f} s")
