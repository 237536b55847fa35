"""The verbs that do not run a grid of implementations: ``list`` (what each implementation
supports), ``new`` (a template or example to start from), ``audit`` (the suite's own
mutation audit) and ``autograder`` (Gradescope's bundle for an assignment).
"""

from __future__ import annotations

import argparse
import sys

from conformance.cli.options import (PROG, UsageError, add_jobs, add_limit_options, add_seed, bounded_jobs)
from conformance.cli.progress import under_ci
from conformance.cli.suite import NOTEBOOK_CELLS


def add_list(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "list", help="show the registered implementations, what each supports and its known defects",
        description="The built-in implementations (and any installed through the conformance.implementations "
                    "entry point group): what each supports, and its recorded known defects; then how many "
                    "cases each grid has.",
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
    print(f"\n{grid_sizes()}", file=sys.stdout)
    return 0


def grid_sizes() -> str:
    """How many cases each grid has today (the docs point here rather than quote a count that
    changes as the grid grows)."""
    from conformance.cases.grid import default_grid, smoke_grid
    from conformance.cases.spec import NetworkSpec

    parts = []
    for name, cases in (("full", default_grid()), ("quick", default_grid(quick=True)), ("smoke", smoke_grid())):
        mlps = sum(isinstance(case.spec, NetworkSpec) for case in cases)
        parts.append(f"{name} {len(cases)} ({mlps} MLP, {len(cases) - mlps} layer-sequence)")
    return "Grids (cases): " + "; ".join(parts)


def add_new(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "new", help="write a commented adapter template to fill in",
        description="Write a commented adapter template to PATH (a new .py file; an existing file is never "
                    "overwritten). Fill in the lines marked FILL IN, then run `conformance check PATH`.",
    )
    parser.add_argument("path", metavar="PATH", help="the adapter file to create, e.g. my_adapter.py "
                                                     "(for a worked assignment: a new folder)")
    parser.add_argument("--assignment", action="store_true",
                        help="write a commented assignment template instead (an adapter reaching the student's "
                             "code as self.submission, and the grading settings), for `conformance grade`")
    parser.add_argument("--function", action="store_true",
                        help="write a commented file of functions with a hand-written backward and their "
                             "declared inputs instead, for `conformance check`")
    parser.add_argument("--example", metavar="NAME",
                        help="write the complete example plug-in NAME instead of the template "
                             "(numpy_mlp: a hand-written NumPy MLP and its adapter; custom_ops: a custom autograd "
                             "Function and a NumPy layer pair, declared for `conformance check`; assignment_004: "
                             "the worked grading example, its assignment.py and students/ written into PATH)")
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
    if args.example in examples.assignments():
        try:
            written = examples.write_assignment(args.example, args.path)
        except examples.ExampleError as error:
            raise UsageError(str(error)) from None
        print(f"wrote {written[0]} and {len(written) - 1} notebooks in {written[1].parent}; run: "
              f"cd {args.path} && {PROG} grade assignment.py students/ --seed 0", file=sys.stdout)
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
    add_jobs(parser, "processes sharing the audit grid's cases")
    parser.add_argument("--mutant", action="extend", nargs="+", metavar="NAME", default=[],
                        help="audit only these mutants (repeatable; default: all, listed by --list)")
    parser.add_argument("--list", action="store_true", help="list the mutants and the bug each one has, and exit")
    add_seed(parser)
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


def add_autograder(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "autograder", help="write Gradescope's autograder bundle (setup.sh, run_autograder) for an assignment",
        description="Write the files of a Gradescope autograder into DIR: setup.sh (installs bubblewrap, "
                    "Python 3.11 or later, CPU-only torch and this suite from its wheel), run_autograder "
                    "(grades the one submission in the platform's submission folder and writes its "
                    "results.json) and the assignment file. "
                    "Zip DIR's contents and upload them as the assignment's autograder.",
    )
    parser.add_argument("assignment", metavar="ASSIGNMENT.py", help="the instructor's assignment file")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write the bundle into")
    parser.add_argument("--suite", default=None, metavar="PIP_SPEC",
                        help="what setup.sh installs the suite from: a wheel file (shipped in the bundle) or a pip "
                             "requirement (default: a wheel built from the checkout this suite runs from)")
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
