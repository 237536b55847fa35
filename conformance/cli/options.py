"""The options of the ``conformance`` verbs, each group declared once and shared by the verbs
that take it, and what they become: the cases (``grid_cases``) and the run's settings
(``options_from``). Errors found after parsing are ``UsageError``: one line, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, NoReturn

PROG = "conformance"


class UsageError(Exception):
    """A bad argument found after parsing; one line for the user, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def whole_number(minimum: int, what: str) -> Callable[[str], int]:
    """An option's type: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be at least {minimum}, got {value}")
        return value
    return parse


def seconds(what: str, zero: bool = False, below: float = float("inf")) -> Callable[[str], float]:
    """An option's type: a number of seconds, positive (or 0 when ``zero``) and below ``below``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number of seconds, got {text!r}") from None
        if not (value >= 0 if zero else value > 0) or not value < below:
            allowed = "0 or more" if zero else "a positive number of"
            raise argparse.ArgumentTypeError(f"{what} must be {allowed} seconds, got {text}")
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


def add_jobs(parser: argparse.ArgumentParser, what: str) -> None:
    """``--jobs N``: ``what`` runs N at once."""
    parser.add_argument("--jobs", type=whole_number(0, "--jobs"), default=0, metavar="N",
                        help=f"{what} (default: one per core, and never more)")


def add_seed(parser: argparse.ArgumentParser, default: int | None = 0,
             help: str = "seed of the generated case data (default 0)") -> None:
    parser.add_argument("--seed", type=whole_number(0, "--seed"), default=default, metavar="S", help=help)


def add_outputs(parser: argparse.ArgumentParser) -> None:
    """Where the report goes: ``--out`` and ``--junit-xml``; and ``--resume``, which continues it."""
    parser.add_argument("--out", default="reports", metavar="DIR", help="folder for the report (default: reports)")
    parser.add_argument("--junit-xml", metavar="PATH",
                        help="also write the verdicts as JUnit XML (one test case per implementation × case) "
                             "for a CI system to show")
    parser.add_argument("--resume", action="store_true",
                        help="continue a run that was killed: targets and cases already in --out's journal.jsonl "
                             "(same grid and options) are not run again; a run that completed removed its journal, "
                             "and there is nothing to resume (exit 0)")
    parser.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                        help="run shard I of N: every N-th target named, from the I-th (one job of a CI matrix "
                             "or job array, each with its own --out); `conformance merge` joins the N reports")


def _shard(text: str):
    from conformance.reporting.split import Shard

    return Shard.parse(text)


def add_common(parser: argparse.ArgumentParser, jobs_help: str) -> None:
    """The options ``run`` and ``check`` share."""
    add_grid(parser)
    add_outputs(parser)
    add_jobs(parser, jobs_help)
    add_seed(parser)
    add_worker_options(parser)
    add_grid_options(parser)


def junit_path(args: argparse.Namespace):
    """The ``--junit-xml`` file, checked before the run (a usage error if it cannot be written)."""
    if not args.junit_xml:
        return None
    from conformance.reporting.junit import check_writable

    return check_writable(args.junit_xml)


def add_grid_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose the grid and the timing phase (``run`` and ``check``)."""
    from conformance.cases.spec import ACTIVATIONS
    from conformance.cases.grid import ALL_MODES
    from conformance.running.timing import DEFAULT_BUDGET_S

    grid = parser.add_argument_group(
        "grid", "narrow or change the case grid (comma-separated lists; the same keys in a [tool.conformance] "
                "table of ./pyproject.toml apply when an option is not given). --widths, --batch, --depth and "
                "--activation describe MLPs: given, they leave out the layer-sequence networks (and --widths "
                "and --batch the large-magnitude family), and the run says how many cases that drops")
    grid.add_argument("--widths", metavar="W-W-..", help="networks to run instead of the grid's, as layer widths "
                                                          "input first, e.g. 3-5-5-1,4-8-2")
    grid.add_argument("--batch", metavar="N,..", help="batch sizes instead of the grid's 1,4")
    grid.add_argument("--depth", metavar="N,..", help="keep networks of these depths (layers), e.g. 2,3")
    grid.add_argument("--dtype", metavar="NAME,..", help="keep these dtypes: float64, float32")
    grid.add_argument("--loss", metavar="NAME,..", help=f"keep these modes: {', '.join(ALL_MODES)} (vjp: backward "
                                                          f"from an upstream gradient)")
    grid.add_argument("--activation", metavar="NAME,..",
                      help=f"keep these hidden activations: {', '.join(ACTIVATIONS)}")
    timing = parser.add_argument_group("timing", "after the checks, each implementation is timed next to PyTorch")
    timing.add_argument("--timing-budget", type=seconds("--timing-budget", zero=True), default=DEFAULT_BUDGET_S,
                        metavar="S", help=f"seconds the timing phase may take for every implementation together "
                                          f"(default {DEFAULT_BUDGET_S:g}; 0 skips it; the narrowest networks are "
                                          f"timed first)")
    timing.add_argument("--no-timing", action="store_true", help="skip timing against PyTorch (as --timing-budget 0)")


def grid_cases(args: argparse.Namespace):
    """The cases the grid options (and ./pyproject.toml) choose, or a ``UsageError``."""
    from conformance.cases import grid_options
    from conformance.cases.grid import grid

    try:
        choice = grid_options.choose({option: getattr(args, option) for option in grid_options.FIELDS})
    except (grid_options.GridOptionError, ValueError) as error:
        raise UsageError(str(error)) from None
    cases = grid(choice, seed=args.seed, quick=args.grid == "quick")
    if not cases:
        raise UsageError(f"the grid options leave no case ({grid_options.describe(choice)})")
    _say_what_is_left_out(choice, args)
    return cases


def _say_what_is_left_out(choice, args: argparse.Namespace) -> None:
    """One line on stderr when MLP-only options drop the layer-sequence (and large) cases."""
    import sys

    from conformance.cases.grid import GridChoice, large_cases, sequence_cases

    quick = args.grid == "quick"
    dropped = ((len(sequence_cases(GridChoice(), args.seed, quick)) if not sequence_cases(choice, args.seed, quick)
                else 0) + (len(large_cases(GridChoice(), args.seed)) if not large_cases(choice, args.seed) else 0))
    if dropped:
        print(f"conformance: the grid options describe MLPs; {dropped} layer-network and large-magnitude cases "
              f"are left out", file=sys.stderr)


def add_limit_options(parser: argparse.ArgumentParser, timeout_help: str = "") -> None:
    """``--timeout``, ``--memory`` and ``--target-budget``, the sandboxed workers' limits, for
    every verb that starts workers (``timeout_help``: what else the timeout bounds, e.g.
    notebook cells)."""
    from conformance.running.limits import BUDGET_PER_CASE, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, MIN_CASE_BUDGET_S

    parser.add_argument("--timeout", type=seconds("--timeout", below=1e6), default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"wall-time limit per case{timeout_help}, in seconds (default "
                             f"{DEFAULT_TIMEOUT_S:g}); a target that times out twice gets no more cases")
    parser.add_argument("--memory", type=whole_number(64, "--memory"), default=DEFAULT_MEMORY_MB, metavar="MB",
                        help=f"address-space limit of each worker, in MiB (default {DEFAULT_MEMORY_MB})")
    parser.add_argument("--target-budget", type=seconds("--target-budget", below=1e9), default=None, metavar="S",
                        help=f"seconds each target may spend answering over the whole run, loading and "
                             f"supports() included; past it its remaining cases are errors (default: loading's "
                             f"time plus {BUDGET_PER_CASE:g} x --timeout per case, at least {MIN_CASE_BUDGET_S:g} s)")


def limits_from(args: argparse.Namespace):
    """The workers' ``Limits`` from ``add_limit_options``'s options."""
    from conformance.running.limits import Limits

    return Limits(timeout_s=args.timeout, memory_mb=args.memory, target_budget_s=args.target_budget)


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """The options of every verb that runs implementations it is given: their sandboxed
    workers' limits, the coverage each must reach, recorded known defects, isolation."""
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
    parser.add_argument("--no-isolation", action="store_true",
                        help="run implementations in this process instead of a sandboxed worker each "
                             "(only for code you trust: it can change the verdicts)")


def options_from(args: argparse.Namespace, cases):
    """The run's ``settings.Options`` (expectations included) from the parsed options of
    ``run`` or ``check``."""
    from conformance.judge import expectations as known
    from conformance.judge.coverage import Requirement, RequirementError, check_grid
    from conformance.running.timing import QUICK, Rules
    from conformance.settings import Options

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
    return Options(isolate=not args.no_isolation, jobs=bounded_jobs(args.jobs, args.argv[0]),
                   timing=not args.no_timing, rules=QUICK if args.grid == "quick" else Rules(),
                   timing_budget_s=args.timing_budget, require=require, limits=limits_from(args),
                   expectations=expectations, shard=args.shard)
