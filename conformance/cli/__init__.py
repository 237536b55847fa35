"""The ``conformance`` command (also ``python -m conformance``): one subcommand per verb.

Each verb is a function that adds its subparser (``add_<verb>``, listed in ``VERBS``) and
a function that runs it and returns the exit code: ``suite`` holds the verbs that run
implementations (run, check, grade), ``tools`` the others (list, new, audit, autograder),
``merge`` the reports of a run's shards joined, ``options`` the option groups they share,
``progress`` what they show while they work.

Exit codes: 0 when every result is as expected (a pass, a recorded known defect, a case
that does not apply), 1 when anything unexpected happened, 2 for bad arguments or a
target that cannot be loaded (one line on stderr, never a traceback), 130 when
interrupted (the report of the finished cases is still written, marked partial).
``audit`` exits with 1 when the self-audit falls short (a mutant missed, diagnosis
accuracy under 95%, or a false alarm).
"""

from __future__ import annotations

import signal
import sys
from typing import NoReturn, Sequence

from conformance.cli.options import PROG, Parser, UsageError
from conformance.cli.merge import add_merge
from conformance.cli.suite import add_check, add_grade, add_run
from conformance.cli.tools import add_audit, add_autograder, add_list, add_new
from conformance.running.threads import one_thread_per_process

__all__ = ["PROG", "VERBS", "build_parser", "main", "version"]

VERBS = [add_run, add_list, add_check, add_new, add_audit, add_grade, add_autograder, add_merge]


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
    from conformance.reporting.files import NothingToResume, ReportError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:
            args.verb_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as stop:
        return int(stop.code or 0)
    args.argv = argv
    one_thread_per_process()  # before a verb loads NumPy or PyTorch
    verb = f"{PROG} {argv[0]}" if argv else PROG
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a kill from outside ends like Ctrl-C: report kept
    try:
        return args.handler(args)
    except (TargetError, ReportError, UsageError) as error:
        print(f"{verb}: error: {error}", file=sys.stderr)
        return 2
    except NothingToResume as done:
        print(f"{verb}: --resume: {done}", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        print(f"{verb}: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> NoReturn:
    raise KeyboardInterrupt()
