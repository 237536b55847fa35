"""``conformance check`` on files of declared functions (``functions.declared``): each function
checked on generated inputs through one sandboxed worker per file, a block of lines per
function, and the report written as for every other check (``results.csv``, ``summary.md``,
``report.html``, …). Exit code 0 when every gradient agrees, 1 when one does not or a check
errs, 2 when a file's declarations cannot be read."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence, TextIO

import pandas as pd

from conformance.judge.results import COLUMNS
from conformance.running.limits import Limits
from conformance.functions.check import FunctionReport, check_generated
from conformance.functions.declared import Declared, DeclarationError, read_declarations
from conformance.functions.inputs import InputSpec


def _subjects(path: str, shown: str, isolate: bool, limits: Limits):
    """(a subject by key, a layer's parameters by key, what to close): a worker's, or this
    process's when not isolated."""
    if isolate:
        from conformance.running.function_worker import RemoteSubject, worker_for

        worker = worker_for(path, shown, limits)
        return (lambda key: RemoteSubject(worker, key)), (lambda key: RemoteSubject(worker, key).layer_params()), \
            worker.close
    from conformance.running.function_host import FunctionHost

    host = FunctionHost.load(path, shown)
    return host.subject, host.layer_params, (lambda: None)


def check_declared(declared: Declared, subject_for, params_for, shown: str) -> FunctionReport:
    """One declared function, its reference (when named) called where the function is."""
    label = f"{shown}:{declared.name}"
    try:
        subject = subject_for(declared.key)
        specs = declared.specs
        if declared.layer:
            own = params_for(declared.key)
            specs += tuple(InputSpec(p, tuple(own[p].shape)) for p in declared.params)
        ref = None if declared.reference is None else subject_for((declared.reference, None, False, (), None))
    except Exception as error:  # loading the file or making the layer raised (ImplementationFault): one error row
        from conformance.functions.rows import Run

        return FunctionReport(label, (Run(label, declared.specs, "float64", declared.seed).row(
            "case", "*", "error", f"cannot call {declared.name}: {error}"),))
    return check_generated(subject, label, specs, ref, declared.dtypes, declared.shapes, declared.seed)


def check_files(paths: Sequence[str], isolate: bool = True, limits: Limits = Limits()) -> list[FunctionReport]:
    """Every declared function of every file (``DeclarationError`` for a file that cannot be read)."""
    reports = []
    for shown in paths:
        declarations = read_declarations(shown)
        subject_for, params_for, close = _subjects(str(Path(shown).resolve()), shown, isolate, limits)
        try:
            reports += [check_declared(d, subject_for, params_for, shown) for d in declarations]
        finally:
            close()
    return reports


def command(paths: Sequence[str], out: str | Path = "reports", isolate: bool = True, limits: Limits = Limits(),
            stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    import sys

    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    start = time.perf_counter()
    try:
        reports = check_files(paths, isolate, limits)
    except DeclarationError as error:
        print(f"conformance check: {error}", file=stderr)
        return 2
    print(f"conformance check: {len(reports)} function{'s' * (len(reports) != 1)} in "
          f"{time.perf_counter() - start:.1f} s\n", file=stdout)
    for report in reports:
        print(report.message + "\n", file=stdout)
    from conformance.reporting.environment import environment
    from conformance.reporting.files import Report, ReportError

    table = pd.concat([r.table for r in reports], ignore_index=True) if reports else pd.DataFrame(columns=COLUMNS)
    try:
        settings = environment(0, "functions", "conformance check " + " ".join(paths))
        written = Report(results=table, environment=settings).write(out)
        print("report: " + " · ".join(str(p) for p in written if p.suffix in (".md", ".html")), file=stdout)
    except ReportError as error:
        print(f"conformance check: {error}", file=stderr)
        return 1
    return 0 if reports and all(r.passed for r in reports) else 1
