"""The one path of ``run``, ``check`` and ``grade`` from named targets to a written report.

    named targets ─► report folder checked and hidden from workers ─► journal
        ─► api.run_suite (execution: runner.case_outcome per target × case) ─► Report
        ─► one TargetResult per named target ─► the report's parts written, each on its own

``check_targets`` runs and keeps the results; ``write_parts`` writes the parts a verb
asks for (grading adds scores, feedback and Gradescope's file on top), so that one
part that cannot be written never takes the others with it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from conformance.cases.spec import Case
from conformance.judge.results import COLUMNS, ResultRow
from conformance.reporting.environment import GENERATOR
from conformance.reporting.files import NothingToResume, Report, ReportError, check_writable, write_atomically
from conformance.reporting.read_back import SHARD_FILE
from conformance.reporting.split import Shard
from conformance.reporting.verdicts import TargetResult, display_name
from conformance.running.faults import describe_exception
from conformance.running import journal as journals
from conformance.running.journal import Journal
from conformance.running.targets import Target, Unloadable
from conformance.settings import Options


@dataclass(frozen=True)
class Checked:
    """What a run of named targets produced: the report, one result per named target
    (in the order named; a target that could not be loaded is a result with the reason),
    the report folder, and the journal's reasons for not resuming a target."""

    report: Report
    results: tuple[TargetResult, ...]
    folder: Path
    rejected: tuple[str, ...] = ()


def resumable(folder: Path, resume: bool) -> None:
    """``NothingToResume`` when ``resume`` is asked of a folder holding a complete run's report
    (its journal removed, ``finish``); a folder with a journal, or with no report, resumes."""
    if not resume or (folder / journals.FILE).exists():
        return
    try:
        environment = json.loads((folder / "environment.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(environment, dict) and environment.get("interrupted") is False:
        raise NothingToResume(f"{folder} holds the report of a run that completed: nothing to resume "
                              "(run without --resume to run it again)")


def finish(checked: Checked, failed: Sequence[str]) -> None:
    """A run that completed and whose report was written whole leaves no journal (tens of MB
    for a class; its rows are in the report); an interrupted run keeps it for ``--resume``."""
    if not failed and not checked.report.interrupted:
        journals.remove(checked.folder)


class _Seconds:
    """Passes a run's progress on, noting how long each target took."""

    def __init__(self, progress):
        self.progress, self.seconds = progress, {}

    def __getattr__(self, name: str):
        return getattr(self.progress, name)

    def target_done(self, target: Target, rows: list[ResultRow], seconds: float) -> None:
        self.seconds[target.name] = seconds
        self.progress.target_done(target, rows, seconds)


def report_folder(out: Path | str, sheet: bool = True) -> Path:
    """The report folder, made if need be (``ReportError`` if it cannot be); with ``sheet``,
    refused when it holds a ``targets.csv`` this suite did not write."""
    folder = check_writable(out)
    targets_csv = folder / "targets.csv"
    if sheet and targets_csv.exists() and not targets_csv.read_text(errors="replace").startswith("target,"):
        raise ReportError(f"{folder} already holds targets.csv not written by this suite; "
                          "choose another folder with --out")
    return folder


def fingerprint(cases: Sequence[Case], options: Options) -> str:
    """What must match for a journaled target's rows to stand in a resumed run."""
    limits = replace(options.limits, hidden=())  # what a worker may spend changes rows; the paths do not
    text = repr(([c.id for c in cases], [c.seed for c in cases[:1]], options.checks, options.require,
                 options.isolate, limits, options.known_defects()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_targets(named: Sequence[Target | Unloadable], cases: Sequence[Case], options: Options, *,
                  folder: Path, seed: int = 0, command: str = "", progress=None, resume: bool = False) -> Checked:
    """Run the loadable targets of ``named`` over ``cases`` with ``options``, the report
    folder hidden from every worker and each target's rows journaled there as it finishes
    (``resume`` takes those a killed run finished)."""
    from conformance import api

    resumable(folder, resume)
    cases = list(cases)
    if options.shard is not None:
        named = options.shard.take(named)
        describe_shard(folder, options.shard, named, fingerprint(cases, options))
    runnable = [item for item in named if isinstance(item, Target)]
    options = replace(options, limits=replace(options.limits, hidden=options.limits.hidden + (str(folder.resolve()),)))
    if not runnable:
        empty = Report(pd.DataFrame(columns=list(COLUMNS)), environment={"cases": len(cases)})
        return Checked(empty, tuple(results_of(named, empty, {}, len(cases))), folder)
    timed = _Seconds(progress or api.Progress())
    journal = Journal(folder, fingerprint(cases, options))
    report = api.run_suite(runnable, cases=cases, seed=seed, options=options, progress=timed, command=command,
                           journal=journal, resume=resume)
    if options.shard is not None:
        report = replace(report, environment=report.environment | {"shard": str(options.shard)})
    return Checked(report, tuple(results_of(named, report, timed.seconds, len(cases))), folder,
                   tuple(journal.rejected))


def describe_shard(folder: Path, shard: Shard, named: Sequence[Target | Unloadable], print_: str) -> None:
    """``shard.json``: which shard this folder holds, of which run (its fingerprint), and its
    targets in the order named (what ``conformance merge`` puts back together)."""
    names = [item.name if isinstance(item, Target) else item.source for item in named]
    path = folder / SHARD_FILE
    if path.exists() and f'"generator": "{GENERATOR}"' not in path.read_text(errors="replace")[:4096]:
        raise ReportError(f"{folder} already holds {SHARD_FILE} not written by this suite; choose another folder "
                          "with --out")
    write_atomically(folder / SHARD_FILE, json.dumps({"generator": GENERATOR, "shard": str(shard),
                                                      "fingerprint": print_, "targets": names}, indent=1) + "\n")


def results_of(named: Sequence[Target | Unloadable], report: Report, seconds: dict[str, float],
               cases: int) -> list[TargetResult]:
    """One ``TargetResult`` per named target, in the order they were named: what it calls
    itself is display text next to its identity (the name it was given by)."""
    ran = {result.source: result for result in report.targets}
    failed = {item.source: item.reason for item in report.not_loaded}
    out = []
    for item in named:
        if isinstance(item, Unloadable) or item.name in failed:
            reason = item.reason if isinstance(item, Unloadable) else failed[item.name]
            out.append(TargetResult(item.source, "", load_error=reason, cases=cases))
            continue
        label = display_name(report.labels.get(item.name, ""), item)
        if item.name in ran:
            out.append(replace(ran[item.name], source=item.name, name=label, seconds=seconds.get(item.name, 0.0),
                               coverage=report.coverage.get(item.name, ()),
                               cases=cases))
        else:
            out.append(TargetResult(item.name, label, cases=cases, not_run=True))
    return out


def sheet_part(folder: Path, table: pd.DataFrame) -> Callable[[], None]:
    """``targets.csv``: one row per target named (a course's grade sheet)."""
    return lambda: write_atomically(folder / "targets.csv", table.to_csv(index=False, lineterminator="\n"))


def report_part(checked: Checked, when_empty: bool = True) -> Callable[[], None]:
    """The report's files (results.csv, summary.md, report.html, ...); when no case ran,
    only if ``when_empty``."""
    def write() -> None:
        if when_empty or not checked.report.empty:
            checked.report.write(checked.folder)
    return write


def junit_part(checked: Checked, path: Path | None) -> Callable[[], None]:
    """The verdicts as JUnit XML at ``path`` (nothing when None), targets not loaded included."""
    def write() -> None:
        if path is not None:
            from conformance.reporting.junit import write_junit

            write_junit(checked.report.results, path,
                        [(r.source, r.load_error) for r in checked.results if r.load_error],
                        checked.report.not_applicable)
    return write


def write_parts(parts: Sequence[tuple[str, Callable[[], list[str] | None]]]) -> list[str]:
    """Write each named part in turn; one that fails is named and the others are still
    written (a part may also return failures of its own pieces). What failed."""
    failed: list[str] = []
    for name, part in parts:
        try:
            failed += part() or []
        except ReportError as error:
            failed.append(str(error))
        except Exception as error:  # one part never takes the others with it
            failed.append(f"{name} could not be written ({describe_exception(error)})")
    return failed
