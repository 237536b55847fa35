"""The ``conformance`` command (also ``python -m conformance``): one subcommand per verb.

Each verb is a function that adds its subparser (``add_<verb>``, listed in
``VERBS``) and a function that runs it and returns the exit code. Exit codes:
0 when every result is as expected (a pass, a recorded known defect, a case
that does not apply), 1 when anything unexpected happened, 2 for bad
arguments or a target that cannot be loaded (one line on stderr, never a
traceback), 130 when interrupted (the report of the finished cases is still
written, marked partial). ``audit`` exits with 1 when the self-audit falls short
(a mutant missed, diagnosis accuracy under 95%, or a false alarm).

Longer than 300 lines: one parser and one short handler per verb (run, check, grade,
autograder, list, new, audit), sharing the option helpers at the top.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Callable, NoReturn, Sequence, TextIO

PROG = "conformance"


class UsageError(Exception):
    """A bad argument found after parsing; one line for the user, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(minimum: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be at least {minimum}, got {value}")
        return value
    return parse


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def bounded_jobs(jobs: int | None, verb: str) -> int:
    """``--jobs``: the cores available when not given (or 0); more than the cores is
    slower, not faster, so it is capped there with a warning."""
    available = cores()
    if not jobs:
        return available
    if jobs > available:
        print(f"{PROG} {verb}: warning: --jobs {jobs} is more than the {available} core{'s' * (available > 1)} "
              f"available; running {available} at once", file=sys.stderr)
        return available
    return jobs


def add_grid(parser: argparse.ArgumentParser) -> None:
    """``--grid full|quick`` (the words of pytest's ``--conformance-grid``) and ``--quick`` for ``--grid quick``."""
    parser.add_argument("--grid", choices=("full", "quick"), default="full",
                        help="the case grid: full (default) or quick (every network kind and mode on fewer "
                             "networks, quick timing); pytest's --conformance-grid takes the same words")
    parser.add_argument("--quick", dest="grid", action="store_const", const="quick", help="the same as --grid quick")


def add_common(parser: argparse.ArgumentParser, jobs_help: str) -> None:
    """The options ``run`` and ``check`` share."""
    add_grid(parser)
    parser.add_argument("--out", default="reports", metavar="DIR", help="folder for the report (default: reports)")
    parser.add_argument("--jobs", type=_count(0, "--jobs"), default=0, metavar="N", help=jobs_help)
    parser.add_argument("--seed", type=_count(0, "--seed"), default=0, metavar="S",
                        help="seed of the generated case data (default 0)")
    parser.add_argument("--junit-xml", metavar="PATH",
                        help="also write the verdicts as JUnit XML (one test case per implementation × case) "
                             "for a CI system to show")
    add_worker_options(parser)
    add_grid_options(parser)


def _junit_path(args: argparse.Namespace):
    """The ``--junit-xml`` file, checked before the run (a usage error if it cannot be written)."""
    if not args.junit_xml:
        return None
    from conformance.reporting.junit import check_writable

    return check_writable(args.junit_xml)


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--timing-budget must be a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"--timing-budget must be 0 or more seconds, got {text}")
    return value


def add_grid_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose the grid and the timing phase (``run`` and ``check``)."""
    from conformance.cases.spec import ACTIVATIONS, MODES
    from conformance.running.timing import DEFAULT_BUDGET_S

    grid = parser.add_argument_group(
        "grid", "narrow or change the case grid (comma-separated lists; the same keys in a [tool.conformance] "
                "table of ./pyproject.toml apply when an option is not given)")
    grid.add_argument("--widths", metavar="W-W-..", help="networks to run instead of the grid's, as layer widths "
                                                          "input first, e.g. 3-5-5-1,4-8-2")
    grid.add_argument("--batch", metavar="N,..", help="batch sizes instead of the grid's 1,4")
    grid.add_argument("--depth", metavar="N,..", help="keep networks of these depths (layers), e.g. 2,3")
    grid.add_argument("--dtype", metavar="NAME,..", help="keep these dtypes: float64, float32")
    grid.add_argument("--loss", metavar="NAME,..", help=f"keep these modes: {', '.join(MODES)} (vjp: backward "
                                                          f"from an upstream gradient)")
    grid.add_argument("--activation", metavar="NAME,..",
                      help=f"keep these hidden activations: {', '.join(ACTIVATIONS)}")
    timing = parser.add_argument_group("timing", "after the checks, each implementation is timed next to PyTorch")
    timing.add_argument("--timing-budget", type=_seconds, default=DEFAULT_BUDGET_S, metavar="S",
                        help=f"seconds the timing phase may take for every implementation together "
                             f"(default {DEFAULT_BUDGET_S:g}; 0 skips it; the narrowest networks are timed first)")
    timing.add_argument("--no-timing", action="store_true", help="skip timing against PyTorch (as --timing-budget 0)")


def grid_cases(args: argparse.Namespace):
    """The cases the grid options (and ./pyproject.toml) choose, or a ``UsageError``."""
    from conformance.cases import grid_options
    from conformance.cases.spec import grid

    try:
        choice = grid_options.choose({option: getattr(args, option) for option in grid_options.FIELDS})
    except (grid_options.GridOptionError, ValueError) as error:
        raise UsageError(str(error)) from None
    cases = grid(choice, seed=args.seed, quick=args.grid == "quick")
    if not cases:
        raise UsageError(f"the grid options leave no case ({grid_options.describe(choice)})")
    return cases


# ---- run -------------------------------------------------------------------------------------

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
    add_common(parser, "processes running cases at once (default: one per core, and never more); timing "
                       "always runs one case at a time")
    parser.set_defaults(handler=run_command)


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--timeout must be a number of seconds, got {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"--timeout must be a positive number of seconds, got {text!r}")
    return value


def _budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--target-budget must be a number of seconds, got {text!r}") from None
    if not 0 < value < 1e9:
        raise argparse.ArgumentTypeError(f"--target-budget must be a positive number of seconds, got {text!r}")
    return value


def add_limit_options(parser: argparse.ArgumentParser, timeout_help: str = "") -> None:
    """``--timeout``, ``--memory`` and ``--target-budget``, the sandboxed workers' limits, for
    every verb that starts workers (``timeout_help``: what else the timeout bounds, e.g.
    notebook cells)."""
    from conformance.running.isolation import BUDGET_PER_CASE, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, MIN_CASE_BUDGET_S

    parser.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"wall-time limit per case{timeout_help}, in seconds (default "
                             f"{DEFAULT_TIMEOUT_S:g}); a target that times out twice gets no more cases")
    parser.add_argument("--memory", type=_count(64, "--memory"), default=DEFAULT_MEMORY_MB, metavar="MB",
                        help=f"address-space limit of each worker, in MiB (default {DEFAULT_MEMORY_MB})")
    parser.add_argument("--target-budget", type=_budget, default=None, metavar="S",
                        help=f"seconds each target may spend answering over the whole run, loading and "
                             f"supports() included; past it its remaining cases are errors (default: loading's "
                             f"time plus {BUDGET_PER_CASE:g} x --timeout per case, at least {MIN_CASE_BUDGET_S:g} s)")


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """The options of every verb that runs implementations: their sandboxed workers'
    limits, the coverage each must reach, recorded known defects, resuming."""
    add_limit_options(parser)
    parser.add_argument("--require", metavar="TERMS", default=None,
                        help="coverage every target must reach, e.g. bias,relu,tanh,float64,depth>=3: for each "
                             "combination of the values named, at least one case must run, else the target is "
                             "'incomplete' (terms: bias nobias, activations, out=ACT, float32 float64, vjp or a "
                             "loss, depth/batch with = >= <=, input_gradient)")
    parser.add_argument("--expectations", metavar="FILE", default=None,
                        help="known defects of your own targets, by the name you give them (lines "
                             "'target | case glob | tensor glob | reason'); the bundled implementations' own "
                             "apply to them only")
    parser.add_argument("--resume", action="store_true",
                        help="continue a run that was killed: targets already in --out's journal.jsonl "
                             "(same grid and options) are not run again")
    parser.add_argument("--no-isolation", action="store_true",
                        help="run implementations in this process instead of a sandboxed worker each "
                             "(only for code you trust: it can change the verdicts)")


def options_from(args: argparse.Namespace, cases) -> tuple:
    """(``api.Options``, expectations) from the parsed options of ``run`` or ``check``."""
    from conformance import api
    from conformance.judge import expectations as known
    from conformance.judge.coverage import Requirement, RequirementError, check_grid
    from conformance.running.isolation import Limits
    from conformance.running.timing import QUICK, Rules

    require = None
    if args.require is not None:
        try:
            require = Requirement.parse(args.require)
            check_grid(require, cases)
        except RequirementError as error:
            raise UsageError(str(error)) from None
    expectations = known.load()
    if args.expectations is not None:
        try:
            expectations += known.load(args.expectations)
        except (OSError, ValueError) as error:
            raise UsageError(str(error)) from None
    options = api.Options(isolate=not args.no_isolation, jobs=bounded_jobs(args.jobs, args.argv[0]),
                          timing=not args.no_timing, rules=QUICK if args.grid == "quick" else Rules(),
                          timing_budget_s=args.timing_budget, require=require,
                          limits=Limits(timeout_s=args.timeout, memory_mb=args.memory,
                                        target_budget_s=args.target_budget))
    return options, expectations


class LineProgress:
    """Progress as lines (not on a terminal, or under CI): one per implementation."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def start(self, targets, cases: int) -> None:
        print(f"running {len(targets)} implementation{'s' * (len(targets) > 1)} on {cases} cases",
              file=self.stream, flush=True)

    def case_done(self, target, case, rows) -> None:
        pass

    def target_done(self, target, rows, seconds: float) -> None:
        from conformance.reporting.verdicts import TargetResult
        from conformance.reporting.verdicts import LABELS

        cases = len({r.case for r in rows})
        verdict = TargetResult(target.name, target.name, tuple(rows), cases=cases).verdict
        print(f"{target.name}: {LABELS[verdict]} — {cases} cases in {seconds:.1f} s", file=self.stream, flush=True)

    def timing_phase(self, targets, budget_s: float) -> None:
        print(announcement(targets, budget_s), file=self.stream, flush=True)

    def timing_started(self, target, cases: int) -> None:
        print(f"{target.name}: timing up to {cases} cases next to PyTorch", file=self.stream, flush=True)

    def timed(self, target, case) -> None:
        pass

    def timing_done(self, target, timed: int, cases: int, seconds: float, left_out: int = 0) -> None:
        why = [f"{left_out} left out for the budget"] * (left_out > 0)
        if other := cases - timed - left_out:
            why.append(f"{other} not timed: not supported or an error, see timings.csv")
        said = f" ({'; '.join(why)})" if why else ""
        print(f"{target.name}: timed {timed} of {cases} cases in {seconds:.1f} s{said}", file=self.stream, flush=True)

    def finish(self) -> None:
        pass


class BarProgress:
    """A progress bar on a terminal: cases run, then cases timed."""

    def __init__(self, stream: TextIO):
        self.stream, self.bar = stream, None

    def _bar(self, total: int, what: str):
        from tqdm import tqdm

        if self.bar is not None:
            self.bar.close()
        self.bar = tqdm(total=total, desc=what, unit="case", file=self.stream, dynamic_ncols=True, leave=False)

    def start(self, targets, cases: int) -> None:
        self.cases, self.done = cases, 0
        self._bar(len(targets) * cases, "checking")

    def case_done(self, target, case, rows) -> None:
        self.bar.set_postfix_str(target.name, refresh=False)
        self.bar.update(1)
        self.done += 1

    def target_done(self, target, rows, seconds: float) -> None:
        self.bar.update(self.cases - self.done)  # all at once when processes ran the cases
        self.done = 0

    def timing_phase(self, targets, budget_s: float) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        print(announcement(targets, budget_s), file=self.stream, flush=True)

    def timing_started(self, target, cases: int) -> None:
        self._bar(cases, f"timing {target.name}")

    def timed(self, target, case) -> None:
        self.bar.update(1)

    def timing_done(self, target, timed: int, cases: int, seconds: float, left_out: int = 0) -> None:
        pass

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def announcement(targets, budget_s: float) -> str:
    """The line that says the timing phase starts, how long it may take, and how to change that."""
    n = len(targets)
    return (f"timing {n} implementation{'s' * (n > 1)} next to PyTorch, for up to {budget_s:g} s in all "
            f"(--timing-budget S to change, --no-timing to skip)")


def progress_for(stream: TextIO):
    return BarProgress(stream) if stream.isatty() and not under_ci() else LineProgress(stream)


def print_outcome(report, stdout: TextIO) -> None:
    """The verdict per implementation, what is wrong, in a few lines."""
    from conformance.reporting.verdicts import aligned
    from conformance.reporting.tables import findings, verdict_table

    if report.results.empty:
        print("no case finished", file=stdout)
        return
    print(aligned(verdict_table(report.results)), file=stdout)
    for name, label, lines in findings(report.results, limit=3):
        print(f"\n{name}: {label}", file=stdout)
        for line in lines:
            print(f"  {line}", file=stdout)


def run_command(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from dataclasses import replace

    from conformance import api
    from conformance.check import fingerprint, took
    from conformance.running.journal import Journal
    from conformance.reporting.files import check_writable

    cases = grid_cases(args)  # every usage error before the report folder is made
    targets = api.targets_named(args.impl)
    junit = _junit_path(args)
    options, expectations = options_from(args, cases)
    out = check_writable(args.out)
    options = replace(options, limits=replace(options.limits, hidden=(str(out.resolve()),)))
    journal = Journal(out, fingerprint(cases, options, expectations))
    report = api.run_suite(targets, cases=cases, seed=args.seed, options=options, progress=progress_for(sys.stderr),
                           command=" ".join([PROG, *args.argv]), expectations=expectations,
                           journal=journal, resume=args.resume)
    for line in journal.rejected:
        print(f"{PROG} run: --resume: {line}", file=sys.stderr)
    for item in report.not_loaded:
        print(f"{PROG} run: error: {item.source}: {item.reason}", file=sys.stderr)
    written = report.write(out)
    if junit is not None:
        from conformance.reporting.junit import write_junit

        write_junit(report.results, junit)
    print(f"{PROG} run: {len(targets)} implementation{'s' * (len(targets) > 1)}, "
          f"{took(report, time.perf_counter() - started)}\n", file=sys.stdout)
    print_outcome(report, sys.stdout)
    print(f"\nsandbox: {report.environment['sandbox']}", file=sys.stdout)
    print(f"\nreport: {written[-2]} · {written[-1]}", file=sys.stdout)
    if report.interrupted:
        print(f"{PROG} run: interrupted; the report holds the cases that finished (marked partial)", file=sys.stderr)
        return 130
    return report.exit_code


# ---- list ------------------------------------------------------------------------------------

def add_list(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "list", help="show the registered implementations, what each supports and its known defects",
        description="The built-in implementations (and any installed through the conformance.implementations "
                    "entry point group): what each supports, and its recorded known defects.",
    )
    parser.set_defaults(handler=list_command)


def list_command(args: argparse.Namespace) -> int:
    from conformance.judge import expectations as known
    from conformance.running import targets as registry
    from conformance.contract.adapter import FIELD_DOCS
    from conformance.running.isolation import describe

    recorded = known.load()
    for name in registry.builtin_names() + [n for n in registry.installed_names() if n not in registry.BUILTINS]:
        target = registry.load(name)
        try:
            described = describe(target)  # loaded in a sandboxed worker, like every target
        except registry.TargetError as error:
            print(f"{name}: cannot be loaded: {error}\n", file=sys.stdout)
            continue
        capabilities = described["capabilities"]
        print(f"{target.name}" + (f" — {described['description']}" if described["description"] else ""),
              file=sys.stdout)
        print(f"  supports: {capabilities.summary()}", file=sys.stdout)
        fields = capabilities.fields()
        print("  capabilities: " + ", ".join(f"{k}={v}" for k, v in fields.items() if k != "notes"), file=sys.stdout)
        if capabilities.notes:
            print(f"  notes: {capabilities.notes}", file=sys.stdout)
        defects = known.for_target(recorded, target)
        if not defects:
            print("  known defects: none recorded", file=sys.stdout)
        for defect in defects:
            print(f"  known defect: {defect.reason} (cases {defect.cases}, tensors {defect.tensors})", file=sys.stdout)
        print(file=sys.stdout)
    print("Capabilities fields (conformance.Capabilities; an adapter may also refine supports(spec, batch, dtype)):",
          file=sys.stdout)
    for name, doc in FIELD_DOCS.items():
        print(f"  {name}: {doc}", file=sys.stdout)
    return 0


# ---- check -----------------------------------------------------------------------------------

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
    add_common(parser, "processes running cases at once (default: one per core, and never more)")
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
    options, expectations = options_from(args, cases)
    return check.command(args.targets, quick=args.grid == "quick", seed=args.seed, out=args.out, options=options,
                         cases=cases, expectations=expectations, progress=progress_for(sys.stderr),
                         command_line=" ".join([PROG, *args.argv]), resume=args.resume,
                         stdout=sys.stdout, stderr=sys.stderr, junit_xml=_junit_path(args))


def _check_functions(args: argparse.Namespace) -> int:
    from conformance.functions.command import command
    from conformance.running.isolation import Limits

    limits = Limits(timeout_s=args.timeout, memory_mb=args.memory, hidden=(os.path.abspath(args.out),))
    return command(args.targets, out=args.out, isolate=not args.no_isolation, limits=limits, stdout=sys.stdout,
                   stderr=sys.stderr)


# ---- new -------------------------------------------------------------------------------------

def add_new(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "new", help="write a commented adapter template to fill in",
        description="Write a commented adapter template to PATH (a new .py file; an existing file is never "
                    "overwritten). Fill in the lines marked FILL IN, then run `conformance check PATH`.",
    )
    parser.add_argument("path", metavar="PATH", help="the adapter file to create, e.g. my_adapter.py")
    parser.add_argument("--assignment", action="store_true",
                        help="write a commented assignment template instead (an adapter reaching the student's "
                             "code as self.submission, and the grading settings), for `conformance grade`")
    parser.add_argument("--function", action="store_true",
                        help="write a commented file of functions with a hand-written backward and their "
                             "declared inputs instead, for `conformance check`")
    parser.add_argument("--example", metavar="NAME",
                        help="write the complete example plug-in NAME instead of the template "
                             "(numpy_mlp: a hand-written NumPy MLP and its adapter)")
    parser.set_defaults(handler=new_command)


def new_command(args: argparse.Namespace) -> int:
    from conformance import examples
    from conformance.contract import template

    if args.assignment:
        from conformance.grading import assignment_template

        try:
            path = assignment_template.write(args.path)
        except assignment_template.TemplateError as error:
            raise UsageError(str(error)) from None
        print(f"wrote {path}: fill in the lines marked FILL IN, then run: {PROG} grade {path} SUBMISSIONS…",
              file=sys.stdout)
        return 0
    if args.function:
        from conformance.functions import template as function_template

        try:
            path = function_template.write(args.path)
        except examples.ExampleError as error:
            raise UsageError(str(error)) from None
        print(f"wrote {path}: fill in the lines marked FILL IN, then run: {PROG} check {path}", file=sys.stdout)
        return 0
    if args.example:
        try:
            path = examples.write(args.example, args.path)
        except examples.ExampleError as error:
            raise UsageError(str(error)) from None
        print(f"wrote {path}, the {args.example} example; run: {PROG} check {path}", file=sys.stdout)
        return 0
    try:
        path = template.write(args.path)
    except template.TemplateError as error:
        raise UsageError(str(error)) from None
    print(f"wrote {path}: fill in the lines marked FILL IN, then run: {PROG} check {path}", file=sys.stdout)
    return 0


# ---- audit -----------------------------------------------------------------------------------

def add_audit(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "audit", help="mutation self-audit: does the suite catch one-bug mutants of the reference, and name the bug?",
        description="Run mutants of reference_numpy (each with one bug: a factor in the loss gradient, a bias "
                    "not summed over the batch, a transposed gradient, a derivative at the wrong point, ...) "
                    "through the suite, and the correct implementations alongside. Prints a table of mutants "
                    "(caught or missed, diagnosed right or wrong), the kill rate, the diagnosis accuracy and "
                    "the false alarms. Exit code 0 when every mutant is caught, at least 95% are diagnosed "
                    "right and no correct implementation fails; 1 otherwise; 2 for bad arguments.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="the quick audit grid (the depth-3 networks at batch 4) instead of the whole grid")
    size.add_argument("--smoke", action="store_true",
                      help="each mutant on the one case its bug shows in, and the correct implementations on "
                           "those cases (seconds)")
    parser.add_argument("--jobs", type=_count(0, "--jobs"), default=0, metavar="N",
                        help="processes sharing the audit grid's cases (default: one per core, and never more)")
    parser.add_argument("--mutant", action="extend", nargs="+", metavar="NAME", default=[],
                        help="audit only these mutants (repeatable; default: all, listed by --list)")
    parser.add_argument("--list", action="store_true", help="list the mutants and the bug each one has, and exit")
    parser.add_argument("--seed", type=_count(0, "--seed"), default=0, metavar="S",
                        help="seed of the generated case data (default 0)")
    parser.set_defaults(handler=audit_command)


def audit_command(args: argparse.Namespace) -> int:
    from conformance.audit import audit, mutants

    try:
        chosen = mutants.named(args.mutant)
    except KeyError as error:
        raise UsageError(error.args[0]) from None
    if args.list:
        for mutant in chosen:
            print(f"{mutant.name}: {mutant.bug} (expected diagnosis: {mutant.expected})", file=sys.stdout)
        return 0
    cases = len(audit.smoke_cases(chosen, args.seed) if args.smoke else audit.audit_grid(args.seed, args.quick))
    bar = None
    if sys.stderr.isatty() and not under_ci():
        from tqdm import tqdm

        bar = tqdm(total=cases, desc=f"auditing {len(chosen)} mutants", unit="case", file=sys.stderr, leave=False)
    result = audit.run_audit(chosen, quick=args.quick, seed=args.seed, smoke=args.smoke,
                             jobs=bounded_jobs(args.jobs, "audit"),
                             progress=bar and (lambda case: bar.update(1)))
    if bar is not None:
        bar.close()
    print(audit.render(result), file=sys.stdout)
    return 0 if result.passed else 1


# ---- the command -----------------------------------------------------------------------------

#: Every verb's ``add_<verb>``; a new verb adds its function here.
# ---- grade, autograder ------------------------------------------------------------------------

#: What ``--timeout`` also bounds when students hand in notebooks.
NOTEBOOK_CELLS = " and per notebook cell"


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
    parser.add_argument("--out", default="reports", metavar="DIR", help="folder for the report (default: reports)")
    parser.add_argument("--jobs", type=_count(0, "--jobs"), default=0, metavar="N",
                        help="processes grading at once (default: one per core, and never more)")
    parser.add_argument("--seed", type=_count(0, "--seed"), default=None, metavar="S",
                        help="seed of the cases' data (default: drawn at random, so that no student knows the "
                             "cases beforehand; the output, the report and the feedback say which, and --seed "
                             "reproduces the run)")
    add_limit_options(parser, NOTEBOOK_CELLS)
    parser.add_argument("--gradescope", metavar="PATH", help="write Gradescope's results.json (one submission)")
    parser.add_argument("--junit-xml", metavar="PATH", help="write the verdicts as JUnit XML")
    parser.add_argument("--single", action="store_true",
                        help="take each SUBMISSION as one student's, even a folder holding several files")
    parser.add_argument("--resume", action="store_true", help="continue a run that was killed")
    parser.set_defaults(handler=grade_command)


def grade_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from conformance.grading import grade
    from conformance.grading.assignment import AssignmentError
    from conformance.running.isolation import Limits

    outputs = grade.Outputs(Path(args.gradescope) if args.gradescope else None,
                            _junit_path(args) if args.junit_xml else None)
    try:
        return grade.command(args.assignment, args.submissions, out=args.out, quick=args.grid == "quick",
                             seed=args.seed, limits=Limits(timeout_s=args.timeout, memory_mb=args.memory,
                                                           target_budget_s=args.target_budget),
                             jobs=bounded_jobs(args.jobs, "grade"), single=args.single, outputs=outputs,
                             resume=args.resume, progress=progress_for(sys.stderr), stdout=sys.stdout,
                             stderr=sys.stderr)
    except AssignmentError as error:
        raise UsageError(str(error)) from None


def add_autograder(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "autograder", help="write Gradescope's autograder bundle (setup.sh, run_autograder) for an assignment",
        description="Write the files of a Gradescope autograder into DIR: setup.sh (installs bubblewrap, "
                    "CPU-only torch and this suite), run_autograder (grades the one submission in the "
                    "platform's submission folder and writes its results.json) and the assignment file. "
                    "Zip DIR's contents and upload them as the assignment's autograder.",
    )
    parser.add_argument("assignment", metavar="ASSIGNMENT.py", help="the instructor's assignment file")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write the bundle into")
    parser.add_argument("--suite", default=None, metavar="PIP_SPEC",
                        help="what setup.sh installs the suite from (default: backprop-conformance==VERSION)")
    add_limit_options(parser, NOTEBOOK_CELLS)
    parser.set_defaults(handler=autograder_command)


def autograder_command(args: argparse.Namespace) -> int:
    from conformance.grading import autograder
    from conformance.grading.assignment import AssignmentError

    try:
        written = autograder.write(args.assignment, args.out, suite=args.suite, timeout_s=args.timeout,
                                   memory_mb=args.memory, target_budget_s=args.target_budget)
    except (AssignmentError, autograder.BundleError) as error:
        raise UsageError(str(error)) from None
    print(f"wrote {', '.join(str(p) for p in written)}; zip the files of {args.out} and upload them "
          "as the autograder", file=sys.stdout)
    return 0


VERBS = [add_run, add_list, add_check, add_new, add_audit, add_grade, add_autograder]


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("backprop-conformance")
    except metadata.PackageNotFoundError:
        return "unknown (a source checkout that is not installed)"


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Check hand-written backpropagation against PyTorch autograd and "
                                           "finite differences, and report which gradients are wrong.")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    verbs = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser, required=True)
    for add in VERBS:
        add(verbs)
    for verb in verbs.choices.values():  # so that a verb's unknown option points to its own --help
        verb.set_defaults(verb_parser=verb)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (``python -m conformance`` exits with it)."""
    from conformance.running.targets import TargetError
    from conformance.reporting.files import ReportError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:
            args.verb_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as stop:
        return int(stop.code or 0)
    args.argv = argv
    verb = f"{PROG} {argv[0]}" if argv else PROG
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a kill from outside ends like Ctrl-C: report kept
    try:
        return args.handler(args)
    except (TargetError, ReportError, UsageError) as error:
        print(f"{verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{verb}: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> NoReturn:
    raise KeyboardInterrupt()
