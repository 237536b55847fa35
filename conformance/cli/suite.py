"""The verbs that run implementations over the grid: ``run`` (the built-ins, or those named),
``check`` (your own: files, folders, globs) and ``grade`` (students' submissions through an
assignment's adapter). Each builds the run's ``settings.Options`` from its options and
hands it, whole, to ``pipeline``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from conformance.cli.options import (PROG, UsageError, add_common, add_grid, add_jobs, add_limit_options,
                                     add_outputs, add_seed, bounded_jobs, grid_cases, junit_path, limits_from,
                                     options_from)
from conformance.cli.progress import progress_for

#: What ``--timeout`` also bounds when students hand in notebooks.
NOTEBOOK_CELLS = " and per notebook cell"


def add_run(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "run", help="run the suite over the registered implementations and write the report",
        description="Run every registered implementation (or the ones named) over the case grid, compare "
                    "with PyTorch autograd and finite differences, time each next to PyTorch, and write "
                    "the report (results.csv, timings.csv, summary.md, report.html) to --out.",
    )
    parser.add_argument("--impl", action="extend", nargs="+", metavar="NAME", default=[],
                        help="implementation to run: a built-in name, path/to/file.py[:Class] or module:Class "
                             "(repeatable; default: every built-in, see `conformance list`)")
    add_common(parser, "processes running cases at once; timing always runs one case at a time")
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    from conformance import api, pipeline
    from conformance.check import took
    from conformance.reporting.files import ReportError

    started = time.perf_counter()
    cases = grid_cases(args)  # every usage error before the report folder is made
    targets = api.targets_named(args.impl)
    junit = junit_path(args)
    options = options_from(args, cases)
    folder = pipeline.report_folder(args.out, sheet=False)
    checked = pipeline.check_targets(targets, cases, options, folder=folder, seed=args.seed,
                                     command=" ".join([PROG, *args.argv]), progress=progress_for(sys.stderr),
                                     resume=args.resume)
    report = checked.report
    for line in checked.rejected:
        print(f"{PROG} run: --resume: {line}", file=sys.stderr)
    for item in report.not_loaded:
        print(f"{PROG} run: error: {item.source}: {item.reason}", file=sys.stderr)
    failed = pipeline.write_parts([("the report", pipeline.report_part(checked)),
                                   ("the JUnit file", pipeline.junit_part(checked, junit))])
    pipeline.finish(checked, failed)
    print(f"{PROG} run: {len(targets)} implementation{'s' * (len(targets) > 1)}, "
          f"{took(report, time.perf_counter() - started)}\n", file=sys.stdout)
    print_outcome(report, sys.stdout)
    print(f"\nsandbox: {report.environment['sandbox']}", file=sys.stdout)
    print(f"\nreport: {folder / 'summary.md'} · {folder / 'report.html'}", file=sys.stdout)
    if failed:
        raise ReportError("; ".join(failed))
    if report.interrupted:
        finished = report.environment.get("finished")
        print(f"{PROG} run: interrupted; the report holds the cases that finished"
              f"{f' ({finished})' if finished else ''}, marked partial", file=sys.stderr)
        return 130
    return report.exit_code


def print_outcome(report, stdout: TextIO) -> None:
    """The verdict per implementation, what is wrong, in a few lines."""
    from conformance.reporting.tables import findings, verdict_table
    from conformance.reporting.verdicts import aligned

    if report.empty:
        print("no case finished", file=stdout)
        return
    table = verdict_table(report.results, not_applicable=report.not_applicable, targets=report.targets)
    print(aligned(table), file=stdout)
    for name, label, lines in findings(report.results, limit=3, not_applicable=report.not_applicable,
                                          targets=report.targets):
        print(f"\n{name}: {label}", file=stdout)
        for line in lines:
            print(f"  {line}", file=stdout)


def add_check(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "check", help="check your own implementation(s): a file, module:Class, a folder or a glob of submissions",
        description="Run the whole suite on the named implementations only: a verdict per check family and, "
                    "for each failure, the tensor, the worst element and the cause; the full report goes to "
                    "--out as with `conformance run`, plus targets.csv (one row per target). A target that "
                    "cannot be loaded is one line on stderr and a 'not loaded' row, and the others still run. "
                    "Exit code 0: every target conforms (recorded known defects allowed); 1: a target fails, "
                    "errors or no case applies to it; 2: a target could not be loaded.",
    )
    parser.add_argument("targets", nargs="+", metavar="TARGET",
                        help="path/to/file.py[:Class], package.module:Class, an installed entry point's name "
                             "(group conformance.implementations), a built-in name, a folder of .py files, "
                             "or a glob such as 'submissions/*/'")
    add_common(parser, "processes running cases at once")
    parser.set_defaults(handler=check_command)


def check_command(args: argparse.Namespace) -> int:
    from conformance import check
    from conformance.functions.declared import declares_functions

    declaring = [declares_functions(target) for target in args.targets]
    if any(declaring):
        if not all(declaring):
            raise UsageError("check files of declared functions (FUNCTIONS = {...}) apart from adapters")
        return _check_functions(args)
    cases = grid_cases(args)
    options = options_from(args, cases)
    return check.command(args.targets, quick=args.grid == "quick", seed=args.seed, out=args.out, options=options,
                         cases=cases, progress=progress_for(sys.stderr), command_line=" ".join([PROG, *args.argv]),
                         resume=args.resume, stdout=sys.stdout, stderr=sys.stderr, junit_xml=junit_path(args))


def _check_functions(args: argparse.Namespace) -> int:
    """``check`` on files of declared functions (``functions.command``), with the workers' limits."""
    from dataclasses import replace

    from conformance.functions.command import command

    limits = replace(limits_from(args), hidden=(str(Path(args.out).resolve()),))
    return command(args.targets, out=args.out, isolate=not args.no_isolation, limits=limits, stdout=sys.stdout,
                   stderr=sys.stderr)


def add_grade(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "grade", help="grade students' submissions (notebooks, .py files, folders) with an assignment adapter",
        description="Grade each submission with the instructor's assignment file: its adapter reaches the "
                    "student's code as self.submission, and its API, REQUIRE and POINTS settings fix what is "
                    "graded and how (read without running it). One row per student with a score, a feedback "
                    "file per student in OUT/feedback/, targets.csv, and the report with a class summary. "
                    "Exit codes as for `conformance check`.",
    )
    parser.add_argument("assignment", metavar="ASSIGNMENT.py", help="the instructor's assignment file")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="a notebook (.ipynb), a .py file, a folder (a package, or one holding one notebook "
                             "or module), a folder of these, or a glob such as 'submissions/*.ipynb'")
    add_grid(parser)
    add_outputs(parser)
    add_jobs(parser, "processes grading at once")
    add_seed(parser, default=None, help="seed of the cases' data (default: drawn at random, so that no student "
                                        "knows the cases beforehand; the output, the report and the feedback "
                                        "say which, and --seed reproduces the run)")
    add_limit_options(parser, NOTEBOOK_CELLS)
    parser.add_argument("--gradescope", metavar="PATH", help="write Gradescope's results.json (one submission)")
    parser.add_argument("--single", action="store_true",
                        help="take each SUBMISSION as one student's, even a folder holding several files")
    parser.set_defaults(handler=grade_command)


def grade_command(args: argparse.Namespace) -> int:
    from conformance.grading import grade
    from conformance.grading.assignment import AssignmentError

    outputs = grade.Outputs(Path(args.gradescope) if args.gradescope else None, junit_path(args))
    try:
        return grade.command(args.assignment, args.submissions, out=args.out, quick=args.grid == "quick",
                             seed=args.seed, limits=limits_from(args), jobs=bounded_jobs(args.jobs, "grade"),
                             single=args.single, outputs=outputs, resume=args.resume, shard=args.shard,
                             progress=progress_for(sys.stderr), stdout=sys.stdout, stderr=sys.stderr)
    except AssignmentError as error:
        raise UsageError(str(error)) from None
