"""Checking named implementations: the suite on each, and a few lines per target that say
whether it conforms and, where it does not, what is wrong.

This is what ``conformance check`` and ``assert_conforms`` do. Targets are
anything ``registry.load_all`` accepts (files, ``module:Class``, entry point
names, folders and globs of submissions). A target that cannot be loaded
becomes a ``TargetResult`` with the reason and no rows; the others still run,
each through ``conformance.runner`` in its own worker process (unless
isolation is turned off).

A target's verdict:

* ``pass``: every case that applies passed;
* ``known defects``: the only failures are recorded known defects;
* ``fail``: some result is wrong (a wrong value, shape, dtype, or a broken contract rule);
* ``error``: the implementation raised, crashed or hung (gave no answer), and nothing was wrong otherwise;
* ``nothing ran``: no case of the grid applies (its capabilities exclude them all);
* ``incomplete``: nothing is wrong, but it ran none of some kind of case the run
  requires (``--require``);
* ``not loaded``: the target could not be loaded (the reason says why);
* ``not run``: the run was stopped (Ctrl-C) before the target's turn.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence, TextIO

from conformance import expectations as known
from conformance.diagnose import DIAGNOSIS_MARK
from conformance.isolation import Limits
from conformance.registry import Target, Unloadable, load_all
from conformance.results import CHECKS, ResultRow
from conformance.spec import Case, default_grid

FAMILIES = tuple(check for check in CHECKS if check != "case")
#: Verdicts that make ``conformance check`` exit with 1 (``not loaded`` makes it exit with 2).
UNEXPECTED = ("fail", "error", "nothing ran", "incomplete", "not run")


@dataclass(frozen=True)
class TargetResult:
    """One target's rows (or the reason it could not be loaded), and what they add up to."""

    source: str
    name: str
    rows: tuple[ResultRow, ...] = ()
    load_error: str = ""
    seconds: float = 0.0
    cases: int = field(default=0)
    #: The run stopped before this target's turn came.
    not_run: bool = False

    @property
    def ran(self) -> list[ResultRow]:
        return [r for r in self.rows if r.verdict != "not_applicable"]

    @property
    def verdict(self) -> str:
        if self.load_error:
            return "not loaded"
        if self.not_run:
            return "not run"
        verdicts = {r.verdict for r in self.rows if r.check != "coverage"}
        if "fail" in verdicts:
            return "fail"
        if any(r.check == "coverage" for r in self.rows):
            return "incomplete"
        if "error" in verdicts:
            return "error"
        if not self.ran:
            return "nothing ran"
        return "known defects" if "expected_fail" in verdicts else "pass"

    @property
    def conforms(self) -> bool:
        return self.verdict in ("pass", "known defects")

    def cases_with(self, verdict: str, check: str | None = None) -> set[str]:
        return {r.case for r in self.rows if r.verdict == verdict and check in (None, r.check)}

    def family(self, check: str) -> str:
        """One word (and a count of cases) for a check family: pass, FAIL n, error n, known n or —."""
        rows = [r for r in self.rows if r.check == check and r.verdict != "not_applicable"]
        if not rows:
            return "—"
        for verdict, label in (("fail", "FAIL"), ("error", "error"), ("expected_fail", "known")):
            if cases := self.cases_with(verdict, check):
                return f"{label} {len(cases)}"
        return "pass"

    def families(self) -> dict[str, str]:
        return {check: self.family(check) for check in FAMILIES}


def _tensor_order(tensor: str) -> tuple:
    kind, _, index = tensor.partition("[")
    kinds = ("*", "output", "loss", "input", "weight", "bias")
    return (kinds.index(kind) if kind in kinds else len(kinds), index)


@dataclass(frozen=True)
class Problem:
    """One kind of problem: a check family and tensor, the cases it occurs in, and its worst row."""

    check: str
    tensor: str
    cases: int
    worst: ResultRow

    def line(self) -> str:
        """The check, how many cases, and the worst case's detail (tensor, worst element,
        both values, tolerance, and the diagnosis where there is one)."""
        word = "FAIL" if self.worst.verdict == "fail" else "error"
        return f"{self.check} {word} in {self.cases} case{'s' * (self.cases > 1)}, e.g. {self.worst.case}: {self.worst.detail}"


def _badness(r: ResultRow) -> float:
    """Largest relative error; an error or a result that has no error figure counts as worst."""
    return float("inf") if r.verdict == "error" or r.max_rel_error != r.max_rel_error else r.max_rel_error


def problems(rows: Iterable[ResultRow]) -> list[Problem]:
    """Unexpected rows grouped by check family and tensor. Errors come first, then broken
    contract rules (what the adapter must fix before its values mean anything), then the
    families in report order. A wrong shape that a contract row already explains as a
    layout mistake is not listed twice."""
    rows = list(rows)
    explained = {(r.case, r.tensor) for r in rows if r.check == "contract" and r.unexpected}
    groups: dict[tuple[str, str], list[ResultRow]] = {}
    for r in rows:
        if r.unexpected and (r.check == "contract" or (r.case, r.tensor) not in explained):
            groups.setdefault((r.check, r.tensor), []).append(r)
    found = [Problem(check, tensor, len({m.case for m in members}), max(members, key=_badness))
             for (check, tensor), members in groups.items()]
    order = {check: i for i, check in enumerate(CHECKS)}
    return sorted(found, key=lambda p: (p.worst.verdict != "error", p.check != "contract",
                                        order.get(p.check, len(order)), _tensor_order(p.tensor)))


def diagnosis_line(rows: Iterable[ResultRow]) -> str | None:
    """The diagnosis of the case with the worst wrong value (recorded known defects included),
    with the number of cases diagnosed; None when no row carries one."""
    diagnosed = [r for r in rows if r.verdict in ("fail", "expected_fail") and DIAGNOSIS_MARK in r.detail]
    if not diagnosed:
        return None
    # a wrong value (a relative error) shows more of the bug than a wrong shape (no error figure)
    worst = max(diagnosed, key=lambda r: (r.max_rel_error == r.max_rel_error, _badness(r)))
    cases = len({r.case for r in diagnosed})
    text = worst.detail.split(DIAGNOSIS_MARK, 1)[1]
    return f"diagnosis ({cases} case{'s' * (cases > 1)} diagnosed; worst, {worst.case}): {text}"


#: Where the problems left out of a short list are, named by file and column.
MORE_IN = "every one is in summary.md, section “What is wrong”, and each failing row in results.csv, column detail"


def problem_lines(rows: Iterable[ResultRow], limit: int, more_in: str = MORE_IN) -> list[str]:
    """One line per kind of problem, at most ``limit`` of them and a count of the rest, saying
    where the rest are (``more_in``)."""
    found = problems(rows)
    lines = [problem.line() for problem in found[:limit]]
    if len(found) > limit:
        more = len(found) - limit
        lines.append(f"… and {more} more kind{'s' * (more > 1)} of problem ({more_in})")
    return lines


def not_applicable_line(result: TargetResult) -> str | None:
    reasons = Counter(r.detail for r in result.rows if r.verdict == "not_applicable" and r.check == "case")
    if not reasons:
        return None
    total = sum(reasons.values())
    shown = "; ".join(f"{reason} ({count})" for reason, count in reasons.most_common(3))
    more = f"; {len(reasons) - 3} more reason{'s' * (len(reasons) > 4)}" if len(reasons) > 3 else ""
    return f"not applicable: {total} of {result.cases} cases — {shown}{more}"


HEADINGS = {
    "pass": "conforms",
    "known defects": "conforms apart from its recorded known defects",
    "fail": "DOES NOT CONFORM",
    "error": "ERRORS (the implementation raised, crashed or hung)",
    "nothing ran": "NOTHING RAN: no case of the grid applies to it",
    "not loaded": "NOT LOADED",
    "incomplete": "INCOMPLETE: required cases did not run",
    "not run": "NOT RUN (the run was stopped first)",
}


def render_target(result: TargetResult, max_problems: int = 8) -> str:
    """The block ``conformance check`` prints for one target."""
    title = result.name if result.source in result.name else f"{result.name} ({result.source})"
    if result.load_error:
        return f"{title}: {HEADINGS['not loaded']}: {result.load_error}"
    ran = len({r.case for r in result.ran})
    lines = [f"{title}: {HEADINGS[result.verdict]} — {ran} of {result.cases} cases ran in {result.seconds:.1f} s"]
    present = {r.check for r in result.ran}
    if words := [f"{check} {word}" for check, word in result.families().items() if check in present]:
        lines.append("  " + " · ".join(words))
    if note := not_applicable_line(result):
        lines.append("  " + note)
    if known_cases := result.cases_with("expected_fail"):
        reasons = sorted({r.detail.split(" — ")[0].removeprefix("known defect: ")
                          for r in result.rows if r.verdict == "expected_fail"})
        lines.append(f"  known defects in {len(known_cases)} cases: {'; '.join(reasons)}")
    if diagnosed := diagnosis_line(result.rows):
        lines.append("  " + diagnosed)
    lines += ["  " + line for line in problem_lines(result.rows, max_problems)]
    return "\n".join(lines)


def summary_table(results: Sequence[TargetResult]):
    """One row per target: its verdict, cases run, and each check family's word."""
    import pandas as pd

    present = [c for c in FAMILIES if any(r.check == c for result in results for r in result.ran)]
    records = []
    for result in results:
        families = result.families()
        records.append({
            "target": result.source,
            "implementation": result.name if not result.load_error else "",
            "verdict": result.verdict,
            "cases run": "" if result.load_error else f"{len({r.case for r in result.ran})}/{result.cases}",
            **{check: families[check] if not result.load_error else "" for check in present},
            "errors": len(result.cases_with("error")) if not result.load_error else "",
            "reason": result.load_error,
        })
    table = pd.DataFrame.from_records(records)
    if not table["reason"].astype(bool).any():
        table = table.drop(columns="reason")
    return table


def aligned(table) -> str:
    """A table as left-aligned text columns (the last one, often long, is not padded)."""
    cells = [list(map(str, table.columns))] + [[str(v) for v in record] for record in table.itertuples(index=False)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns) - 1)]
    return "\n".join("  ".join([c.ljust(w) for c, w in zip(row, widths)] + row[-1:]).rstrip() for row in cells)


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


def exit_code(results: Sequence[TargetResult]) -> int:
    """2 when a target could not be loaded, else 1 when one did not conform, else 0."""
    if any(r.verdict == "not loaded" for r in results):
        return 2
    return 1 if any(r.verdict in UNEXPECTED for r in results) else 0


class _Seconds:
    """Passes a run's progress on, noting how long each target took."""

    def __init__(self, progress):
        self.progress, self.seconds = progress, {}

    def __getattr__(self, name: str):
        return getattr(self.progress, name)

    def target_done(self, target: Target, rows: list[ResultRow], seconds: float) -> None:
        self.seconds[target.name] = seconds
        self.progress.target_done(target, rows, seconds)


def _results(loaded: Sequence[Target | Unloadable], report, seconds: dict[str, float], cases: int) -> list[TargetResult]:
    """One ``TargetResult`` per named target, in the order they were named: what it calls
    itself is display text next to its identity (the name it was given by)."""
    from conformance.report import target_results

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
                               cases=cases))
        else:
            out.append(TargetResult(item.name, label, cases=cases, not_run=True))
    return out


def display_name(label: str, target: Target) -> str:
    """What a target is shown as: its adapter's own name (sanitized by the worker), else its identity."""
    return label or (target.path.stem if target.path is not None else target.name)


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
    from conformance.naming import explained

    started = time.perf_counter()
    loaded = [replace(item, reason=explained(item.source, item.reason)) if isinstance(item, Unloadable) else item
              for item in load_all(targets)]
    for item in loaded:
        if isinstance(item, Unloadable):
            print(f"conformance check: error: {item.reason}", file=stderr)
    runnable = [item for item in loaded if isinstance(item, Target)]
    if not runnable:
        return 2
    from conformance import api
    from conformance.journal import Journal
    from conformance.report import ReportError, check_writable

    existed = Path(out).exists()
    folder = check_writable(out)
    if (folder / "targets.csv").exists() and not (folder / "targets.csv").read_text(errors="replace").startswith("target,"):
        raise ReportError(f"{folder} already holds targets.csv not written by this suite; choose another folder with --out")
    options = options or api.Options()
    options = replace(options, limits=replace(options.limits, hidden=options.limits.hidden + (str(folder.resolve()),)))
    cases = list(cases) if cases is not None else default_grid(seed=seed, quick=quick)
    timed = _Seconds(progress or api.Progress())
    journal = Journal(folder, fingerprint(cases, options, expectations))
    report = api.run_suite(runnable, cases=cases, seed=seed, expectations=expectations, options=options,
                           progress=timed, command=command_line, journal=journal, resume=resume)
    for item in report.not_loaded:
        print(f"conformance check: error: {loading_error(item, runnable)}", file=stderr)
    if len(report.not_loaded) == len(runnable) and not report.interrupted:
        if not existed and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # nothing could be loaded: no report, as when nothing could be named
        return 2
    written = report.write(folder)
    results = _results(loaded, report, timed.seconds, len(cases))
    written.append(write_targets(results, folder))
    if junit_xml is not None:
        from conformance.junit import write_junit

        write_junit(report.results, junit_xml)
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
    print(f"report: {folder / 'summary.md'} · {folder / 'report.html'} · {written[-1]}", file=stdout)
    if report.interrupted:
        print("conformance check: interrupted; the report holds the targets that finished (marked partial); "
              "--resume continues", file=stderr)
        return 130
    return exit_code(results)


def loading_error(item: Unloadable, targets: Sequence[Target]) -> str:
    """A target's load failure in one line that names it (once)."""
    target = next((t for t in targets if t.name == item.source), None)
    given = target.locator.given if target is not None and target.locator is not None else None
    return item.reason if item.source in item.reason or (given and given in item.reason) else \
        f"{item.source}: {item.reason}"


def fingerprint(cases: Sequence[Case], options, expectations) -> str:
    """What must match for a journaled target's rows to stand in a resumed run."""
    import hashlib

    text = repr(([c.id for c in cases], [c.seed for c in cases[:1]], options.checks, options.require,
                 options.isolate, expectations))
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
    from conformance.report import _write_atomically

    path = folder / "targets.csv"
    _write_atomically(path, summary_table(results).to_csv(index=False, lineterminator="\n"))
    return path
