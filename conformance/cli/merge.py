"""``conformance merge SHARD_DIR…``: the report folders of a run's shards (``--shard I/N``)
joined into the report one unsharded run writes (``reporting.shards``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.cli.options import PROG, UsageError, junit_path


def add_merge(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "merge", help="join the report folders of a run's shards (--shard I/N) into one report",
        description="Read the report folders of every shard of one run of `run`, `check` or `grade` with "
                    "--shard I/N (each file checked, nothing evaluated) and write the report an unsharded "
                    "run writes: results.csv, the cases that did not apply, summary.md, report.html and, "
                    "for check and grade, targets.csv (and grade's feedback files), the targets in the order "
                    "named. Exit codes as for `conformance check`.",
    )
    parser.add_argument("shards", nargs="+", metavar="SHARD_DIR", help="the --out folder of each shard")
    parser.add_argument("--out", default="reports", metavar="DIR", help="folder for the report (default: reports)")
    parser.add_argument("--junit-xml", metavar="PATH", help="also write the verdicts as JUnit XML")
    parser.set_defaults(handler=merge_command)


def _results(merged):
    """One ``TargetResult`` per target in the order named, the ones not loaded from the grade sheet."""
    from conformance.reporting.verdicts import TargetResult, target_results

    ran = {r.source: r for r in target_results(merged.results, merged.not_applicable)}
    reasons = {}
    if merged.sheet is not None and {"verdict", "reason"} <= set(merged.sheet.columns):
        reasons = {t: r for t, v, r in zip(merged.sheet["target"], merged.sheet["verdict"], merged.sheet["reason"])
                   if v == "not loaded"}
    return [ran.get(name) or TargetResult(name, "", load_error=reasons.get(name, ""), not_run=name not in reasons)
            for name in merged.not_applicable.order]


def merge_command(args: argparse.Namespace) -> int:
    from conformance import pipeline
    from conformance.cli.suite import print_outcome
    from conformance.judge import expectations as known
    from conformance.reporting.files import Report, ReportError, write_atomically
    from conformance.reporting.read_back import ShardError
    from conformance.reporting.shards import merge
    from conformance.reporting.verdicts import exit_code

    if Path(args.out).resolve() in {Path(folder).resolve() for folder in args.shards}:
        raise UsageError(f"--out {args.out} is one of the shards' folders: the merged report goes to another")
    junit = junit_path(args)
    try:
        merged = merge([Path(folder) for folder in args.shards])
    except ShardError as error:
        raise UsageError(str(error)) from None
    folder = pipeline.report_folder(args.out)
    results = _results(merged)
    summary = view = None
    graded = merged.sheet is not None and {"score", "max score"} <= set(merged.sheet.columns) \
        and len(merged.sheet) == len(results)
    if graded:  # a grading's shards: its class table (grades.csv) and the mistakes in the class
        from conformance.grading.summary import class_summary, class_table_of_sheet, grades_csv

        summary, view = class_summary(results), class_table_of_sheet(results, merged.sheet)
    report = Report(merged.results, merged.timings, merged.environment, known.load(), merged.fd_accuracy,
                    class_summary=summary, not_applicable=merged.not_applicable, class_view=view)
    checked = pipeline.Checked(report, tuple(results), folder)

    def feedback():
        (folder / "feedback").mkdir(exist_ok=True)
        for name, text in merged.feedback.items():
            write_atomically(folder / "feedback" / name, text)

    parts = [("the report", pipeline.report_part(checked)), ("the JUnit file", pipeline.junit_part(checked, junit))]
    if merged.sheet is not None:
        parts += [("targets.csv", pipeline.sheet_part(folder, merged.sheet)), ("feedback", feedback)]
    if graded:
        parts += [("grades.csv", lambda: write_atomically(folder / "grades.csv", grades_csv(view)))]
    failed = pipeline.write_parts(parts)
    print(f"{PROG} merge: {merged.environment['merged_from']}, {len(results)} targets\n", file=sys.stdout)
    print_outcome(report, sys.stdout)
    print(f"\nreport: {folder / 'summary.md'} · {folder / 'report.html'}", file=sys.stdout)
    if failed:
        raise ReportError("; ".join(failed))
    return exit_code(results)
