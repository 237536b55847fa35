"""``conformance check``: the suite on each named implementation, a few lines per target that
say whether it conforms and, where it does not, what is wrong, and the report written as
``conformance run`` writes it, plus ``targets.csv``.

Targets are anything ``running.targets.load_all`` accepts (files, ``module:Class``,
entry point names, folders and globs of submissions). A target that cannot be loaded
becomes a ``TargetResult`` with the reason and no rows; the others still run, each
through ``conformance.runner`` in its own worker process (unless isolation is turned
off). The verdict model is ``conformance.reporting.verdicts``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence, TextIO

from conformance.cases.spec import Case, default_grid
from conformance.judge import expectations as known
from conformance.judge.results import ResultRow
from conformance.reporting.verdicts import (TargetResult, aligned, display_name, exit_code, render_target,
                                            summary_table, target_results)
from conformance.running.isolation import Limits
from conformance.running.survey import ignored_line
from conformance.running.targets import Target, Unloadable, ignored, load_all


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
    report = api.run_suite([target], cases=cases, expectations=expectations,
                           options=api.Options(isolate=isolate, limits=limits, timing=False))
    results = _results([target], report, {}, len(cases))
    return replace(results[0], seconds=time.perf_counter() - start)


class _Seconds:
    """Passes a run's progress on, noting how long each target took."""

    def __init__(self, progress):
        self.progress, self.seconds = progress, {}

    def __getattr__(self, name: str):
        return getattr(self.progress, name)

    def target_done(self, target: Target, rows: list[ResultRow], seconds: float) -> None:
        self.seconds[target.name] = seconds
        self.progress.target_done(target, rows, seconds)


def _results(loaded: Sequence[Target | Unloadable], report, seconds: dict[str, float],
             cases: int) -> list[TargetResult]:
    """One ``TargetResult`` per named target, in the order they were named: what it calls
    itself is display text next to its identity (the name it was given by)."""
    ran = {result.source: result for result in target_results(report.results)}
    failed = {item.source: item.reason for item in report.not_loaded}
    out = []
    for item in loaded:
        if isinstance(item, Unloadable) or item.name in failed:
            reason = item.reason if isinstance(item, Unloadable) else failed[item.name]
            out.append(TargetResult(item.source, "", load_error=reason, cases=cases))
            continue
        label = display_name(report.labels.get(item.name, ""), item)
        if item.name in ran:
            out.append(replace(ran[item.name], source=item.name, name=label, seconds=seconds.get(item.name, 0.0),
                               cases=cases, coverage=report.coverage.get(item.name, ())))
        else:
            out.append(TargetResult(item.name, label, cases=cases, not_run=True))
    return out


def command(
    targets: Sequence[str],
    *,
    quick: bool = False,
    seed: int = 0,
    out: Path | str = "reports",
    options=None,
    expectations: tuple[known.Expectation, ...] | None = None,
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
    others still run. ``options`` are ``api.Options`` (isolation, limits, jobs, timing,
    required coverage); ``expectations`` default to the recorded known defects of the
    bundled implementations; ``cases`` to the grid. Each target's rows are journaled in
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
    from conformance import api
    from conformance.running.journal import Journal
    from conformance.reporting.files import ReportError, check_writable

    existed = Path(out).exists()
    folder = check_writable(out)
    targets_csv = folder / "targets.csv"
    if targets_csv.exists() and not targets_csv.read_text(errors="replace").startswith("target,"):
        raise ReportError(f"{folder} already holds targets.csv not written by this suite; "
                          "choose another folder with --out")
    options = options or api.Options()
    options = replace(options, limits=replace(options.limits, hidden=options.limits.hidden + (str(folder.resolve()),)))
    cases = list(cases) if cases is not None else default_grid(seed=seed, quick=quick)
    timed = _Seconds(progress or api.Progress())
    journal = Journal(folder, fingerprint(cases, options, expectations))
    report = api.run_suite(runnable, cases=cases, seed=seed, expectations=expectations, options=options,
                           progress=timed, command=command_line, journal=journal, resume=resume)
    for line in journal.rejected:
        print(f"conformance check: --resume: {line}", file=stderr)
    for item in report.not_loaded:
        print(f"conformance check: error: {loading_error(item, runnable)}", file=stderr)
    if len(report.not_loaded) == len(runnable) and not report.interrupted:
        if not existed and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # nothing could be loaded: no report, as when nothing could be named
        return 2
    results = _results(loaded, report, timed.seconds, len(cases))
    sheet = write_targets(results, folder)  # the grade sheet first: a failing report file cannot lose it
    failed = ""
    try:
        report.write(folder)
    except ReportError as error:
        failed = str(error)
    if junit_xml is not None:
        from conformance.reporting.junit import write_junit

        write_junit(report.results, junit_xml, [(r.source, r.load_error) for r in results if r.load_error])
    several = len(results) > 1
    n = len(runnable)
    print(f"conformance check: {n} target{'s' * (n > 1)}, {took(report, time.perf_counter() - started)}\n", file=stdout)
    for result in results:
        if not result.load_error and not result.not_run:
            print(render_target(result, max_problems=4 if several else 8), end="\n\n" if several else "\n",
                  file=stdout)
    if several:
        print(aligned(summary_table(results)), file=stdout)
    print(f"sandbox: {report.environment.get('sandbox', 'none')}", file=stdout)
    print(f"report: {folder / 'summary.md'} · {folder / 'report.html'} · {sheet}", file=stdout)
    if failed:
        raise ReportError(failed)
    if report.interrupted:
        print("conformance check: interrupted; the report holds the targets that finished (marked partial); "
              "--resume continues", file=stderr)
        return 130
    return exit_code(results)


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


def fingerprint(cases: Sequence[Case], options, expectations) -> str:
    """What must match for a journaled target's rows to stand in a resumed run."""
    import hashlib

    limits = replace(options.limits, hidden=())  # what a worker may spend changes rows; the paths do not
    text = repr(([c.id for c in cases], [c.seed for c in cases[:1]], options.checks, options.require,
                 options.isolate, limits, expectations))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def took(report, seconds: float) -> str:
    """How long the whole command took, and its phases."""
    env = report.environment
    checking, timed = env.get("seconds_checking", 0.0), env.get("seconds_timing", 0.0)
    timing = f"timing {timed:.1f} s (budget {env['timing_budget_s']:g} s)" if timed else "no timing"
    rest = max(seconds - checking - timed, 0.0)
    return (f"{env.get('cases', 0)} cases in {seconds:.1f} s in all: checking {checking:.1f} s, {timing}, "
            f"loading and writing the report {rest:.1f} s")


def write_targets(results: Sequence[TargetResult], folder: Path) -> Path:
    """``targets.csv``: the summary table, one row per target named (a course's grade sheet)."""
    from conformance.reporting.files import write_atomically

    path = folder / "targets.csv"
    write_atomically(path, summary_table(results).to_csv(index=False, lineterminator="\n"))
    return path
