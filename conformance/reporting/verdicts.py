"""The verdict model: one target's rows and what they add up to, and that in words.

Longer than 300 lines: the one verdict table, a target's verdict and each of its lines in
words (problems, diagnosis, conventions) belong together, so the terminal and the report
cannot drift apart.

A target's verdict:

* ``pass``: every case that applies passed;
* ``known defects``: the only failures are recorded known defects;
* ``other convention``: nothing is wrong, but in some cases the forward differs from
  PyTorch's and follows a common convention the adapter did not declare (layer-norm eps
  1e-8, say): under it, the gradients agree with the oracle and with finite differences of
  the implementation's own forward. Exit code 0 (the gradients are right); the verdict
  line names the convention and how to declare it, after which the target conforms;
* ``fail``: some result is wrong (a wrong value, shape, dtype, or a broken contract rule);
* ``error``: the implementation raised, crashed or hung (gave no answer), and nothing was wrong otherwise;
* ``nothing ran``: no case of the grid applies (its capabilities exclude them all);
* ``incomplete``: nothing is wrong, but it ran no case of a kind required (``--require``) or declared;
* ``not loaded``: the target could not be loaded (the reason says why);
* ``not run``: the run was stopped (Ctrl-C) before the target's turn.

``conformance check`` prints ``render_target``; the report files use the same
problem lines (``conformance.reporting.tables.findings``), so the terminal and
the report always agree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

import pandas as pd

from conformance.judge.results import (CHECKS, COLUMNS, FD_CHECKS, ORACLE_CHECKS, TEXT_COLUMNS, ResultRow,
                                       cases_checked)
from conformance.judge.skipped import NotApplicable
from conformance.reporting import brief
from conformance.reporting.coverage import coverage_statement, uniform_error

if TYPE_CHECKING:
    from conformance.running.targets import Target


FAMILIES = tuple(check for check in CHECKS if check != "case")


@dataclass(frozen=True)
class Verdict:
    """A target's verdict: its words everywhere it is shown, and what it means for the exit
    code and for pytest. Every door (the command line, ``Report.exit_code``, pytest) reads
    this table."""

    word: str
    #: The heading of ``render_target``'s block (``conformance check``, feedback).
    heading: str
    #: The verdict column of the report's table and the progress lines.
    label: str
    #: Its mark in Markdown, where a code host shows it in colour.
    mark: str
    #: 0: conforms; 1: something unexpected; 2: could not be loaded.
    exit: int
    #: What pytest makes of one case with this verdict: passed, xfail, skip or fail.
    pytest: str


VERDICTS = {v.word: v for v in (
    Verdict("pass", "conforms", "conforms", "✅", 0, "passed"),
    Verdict("known defects", "conforms apart from its recorded known defects",
            "conforms apart from recorded known defects", "☑️", 0, "xfail"),
    Verdict("other convention",
            "CONFORMS UNDER ANOTHER CONVENTION: gradients consistent with its own forward; its forward differs "
            "from PyTorch's", "conforms under another convention (named)", "🔀", 0, "passed"),
    Verdict("fail", "DOES NOT CONFORM", "DOES NOT CONFORM", "❌", 1, "fail"),
    Verdict("error", "ERRORS (the implementation raised, crashed or hung)", "errors (raised, crashed or hung)",
            "💥", 1, "fail"),
    Verdict("nothing ran", "NOTHING RAN: no case of the grid applies to it", "nothing ran (no case applies)",
            "➖", 1, "skip"),
    Verdict("incomplete", "INCOMPLETE: a declared or required kind of case did not run",
            "INCOMPLETE (a declared or required kind of case did not run)", "⚠️", 1, "fail"),
    Verdict("not loaded", "NOT LOADED", "not loaded", "🚫", 2, "fail"),
    Verdict("not run", "NOT RUN (the run was stopped first)", "not run (the run was stopped first)", "⏹️", 1,
            "skip"),
)}
#: The verdicts a target that ran can have (the report's table and legend show these).
RAN = ("pass", "known defects", "other convention", "fail", "error", "nothing ran", "incomplete")
HEADINGS = {word: v.heading for word, v in VERDICTS.items()}
LABELS = {word: VERDICTS[word].label for word in RAN}
MARKS = {word: VERDICTS[word].mark for word in RAN}


def exit_code_of(verdicts: Iterable[str]) -> int:
    """The exit code of a run whose targets have these verdicts: the worst of theirs
    (2 when one could not be loaded, else 1 when one did not conform, else 0)."""
    return max((VERDICTS[word].exit for word in verdicts), default=0)


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
    coverage: tuple = ()  #: each declared family's ``judge.declared.FamilyCoverage``
    #: The reasons cases did not apply, each with how many (``judge.skipped``: they have no rows).
    skipped: tuple[tuple[str, int], ...] = ()

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
        if "error" in verdicts:  # before coverage: a kind of case whose cases all raised did not run
            return "error"
        if any(r.check == "coverage" for r in self.rows):
            return "incomplete"
        if not self.ran:
            return "nothing ran"
        if "expected_fail" in verdicts:
            return "known defects"
        return "other convention" if self.conventions_fitted() else "pass"

    def conventions_fitted(self) -> Counter:
        """The conventions fitted to this target's forward, each with the number of cases it
        explains: cases that pass under a convention it did not declare."""
        failed = {r.case for r in self.rows if r.verdict in ("fail", "expected_fail", "error")}
        cases = {(r.case, r.convention) for r in self.rows if r.fitted and r.case not in failed}
        return Counter(convention for _, convention in cases)

    @property
    def conforms(self) -> bool:
        return VERDICTS[self.verdict].exit == 0

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
        """The check, how many cases, and the worst case's detail in short (``brief``: tensor,
        worst element, both values, tolerance; the diagnosis is said once, by ``cause_lines``)."""
        word = "FAIL" if self.worst.verdict == "fail" else "error"
        cases = f"{self.cases} case{'s' * (self.cases > 1)}"
        return brief.failure_line(f"{self.check} {word} in {cases}, e.g. ", self.worst.case, self.worst.detail)


_badness = brief.badness


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
    diagnosed = [r for r in rows if r.verdict in ("fail", "expected_fail") and r.diagnosis]
    if not diagnosed:
        return None
    # a wrong value (a relative error) shows more of the bug than a wrong shape (no error figure)
    worst = max(diagnosed, key=lambda r: (r.max_rel_error == r.max_rel_error, _badness(r)))
    cases = len({r.case for r in diagnosed})
    return f"diagnosis ({cases} case{'s' * (cases > 1)} diagnosed; worst, {worst.case}): {worst.diagnosis}"


#: Where the problems left out of a short list are, named by file and column: the console,
#: summary.md and report.html each list a few kinds (not as many), so none of them points to another.
MORE_IN = "each failing row is in results.csv: verdict fail or error, column detail"
#: Where every case's diagnosis is, in full.
CAUSES_IN = "each failing row's diagnosis is in results.csv, column diagnosis"


def problem_lines(rows: Iterable[ResultRow], limit: int) -> list[str]:
    """One line per kind of problem, at most ``limit`` of them and a count of the rest, saying
    where the rest are (``MORE_IN``)."""
    found = problems(rows)
    lines = [problem.line() for problem in found[:limit]]
    if len(found) > limit:
        more = len(found) - limit
        lines.append(f"… and {more} more kind{'s' * (more > 1)} of problem ({MORE_IN})")
    return lines


def not_applicable_line(result: TargetResult) -> str | None:
    reasons = Counter(r.detail for r in result.rows if r.verdict == "not_applicable" and r.check == "case")
    reasons.update(dict(result.skipped))
    if not reasons:
        return None
    total = sum(reasons.values())
    shown = "; ".join(f"{reason} ({count})" for reason, count in reasons.most_common(3))
    more = f"; {len(reasons) - 3} more reason{'s' * (len(reasons) > 4)}" if len(reasons) > 3 else ""
    return f"not applicable: {total} of {result.cases} cases — {shown}{more}"


#: The checks that answer each question: is the backward consistent with the implementation's
#: own forward (finite differences), and do forward and backward mean what PyTorch means.
OWN_FORWARD, PYTORCH_MEANING = FD_CHECKS, ORACLE_CHECKS


def two_questions(result: TargetResult) -> str | None:
    """Both questions answered apart, with the cases each answer rests on: "backward consistent
    with its own forward: yes" and "matches PyTorch's meaning: yes / under another convention
    (n cases) / NO (n cases)"; None when neither was asked."""
    def cases(n):
        return f"{n} case{'s' * (n != 1)}"

    def wrong(checks):
        return {r.case for r in result.rows if r.check in checks and r.verdict in ("fail", "expected_fail")}
    asked = {r.check for r in result.ran}
    parts = []
    if asked & set(OWN_FORWARD):
        bad = wrong(OWN_FORWARD)
        parts.append("backward consistent with its own forward: " + (f"NO ({cases(len(bad))})" if bad else "yes"))
    if asked & set(PYTORCH_MEANING):
        bad = wrong(PYTORCH_MEANING)
        other = sum(result.conventions_fitted().values())
        answer = (f"NO ({cases(len(bad))})" if bad else f"under another convention ({cases(other)})" if other
                  else "yes")
        parts.append(f"matches PyTorch's meaning: {answer}")
    return " · ".join(parts) or None


def convention_line(result: TargetResult) -> str | None:
    """The conventions fitted to the target's forward where it passed under them (the answer to
    "is the backward right?" and to "is the forward PyTorch's?", apart), and the conventions
    declared; None when neither."""
    parts = []
    if fitted := result.conventions_fitted():
        named = "; ".join(f"{words} reproduces it ({count} case{'s' * (count > 1)})"
                          for words, count in fitted.most_common(3))
        more = f"; {len(fitted) - 3} more" if len(fitted) > 3 else ""
        parts.append("gradients consistent with its own forward; its forward differs from PyTorch's: "
                     f"{named}{more} (declare it in Capabilities(conventions=Conventions(...)) to conform)")
    if declared := sorted({r.convention for r in result.ran if r.convention and not r.fitted}):
        parts.append(f"conventions declared: {' | '.join(declared[:3])}" + ("; …" if len(declared) > 3 else ""))
    return " · ".join(parts) or None


def render_target(result: TargetResult, max_problems: int = 8) -> str:
    """The block ``conformance check`` prints for one target."""
    title = result.name if result.source in result.name else f"{result.name} ({result.source})"
    if result.load_error:
        return f"{title}: {HEADINGS['not loaded']}: {result.load_error}"
    if same := uniform_error(result):  # an adapter that never constructs: one line
        return f"{title}: {same}"
    ran = len(cases_checked(result.rows))
    lines = [f"{title}: {HEADINGS[result.verdict]} — {ran} of {result.cases} cases ran in {result.seconds:.1f} s"
             + coverage_statement(result.coverage)]
    present = {r.check for r in result.ran}
    if words := [f"{check} {word}" for check, word in result.families().items() if check in present]:
        lines.append("  " + " · ".join(words))
    if note := not_applicable_line(result):
        lines.append("  " + note)
    if answers := two_questions(result):
        lines.append("  " + answers)
    if line := convention_line(result):
        lines.append("  " + line)
    if known_cases := result.cases_with("expected_fail"):
        reasons = sorted({r.known_defect for r in result.rows if r.verdict == "expected_fail"})
        lines.append(f"  known defects in {len(known_cases)} cases: {'; '.join(reasons)}")
    lines += ["  " + line for line in brief.cause_lines(result.rows, CAUSES_IN)]
    lines += ["  " + line for line in problem_lines(result.rows, max_problems)]
    return "\n".join(lines[:1] + ["  " + brief.bounded(line) for line in lines[1:]])


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
            "cases run": "" if result.load_error else f"{len(cases_checked(result.rows))}/{result.cases}",
            **{check: families[check] if not result.load_error else "" for check in present},
            "errors": len(result.cases_with("error")) if not result.load_error else "",
            "reason": result.load_error,
        })
    columns = ["target", "implementation", "verdict", "cases run", *present, "errors", "reason"]
    table = pd.DataFrame.from_records(records, columns=columns)  # columns named: a shard may have no target
    if not table["reason"].astype(bool).any():
        table = table.drop(columns="reason")
    return table


def aligned(table) -> str:
    """A table as left-aligned text columns (the last one, often long, is not padded)."""
    cells = [list(map(str, table.columns))] + [[str(v) for v in record] for record in table.itertuples(index=False)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns) - 1)]
    return "\n".join("  ".join([c.ljust(w) for c, w in zip(row, widths)] + row[-1:]).rstrip() for row in cells)


def exit_code(results: Sequence[TargetResult]) -> int:
    """The exit code of a run with these results (``exit_code_of`` their verdicts)."""
    return exit_code_of(r.verdict for r in results)


def display_name(label: str, target: Target) -> str:
    """What a target is shown as: its adapter's own name (sanitized by the worker), else its identity."""
    return label or (target.path.stem if target.path is not None else target.name)


def _as_rows(results: pd.DataFrame) -> list[ResultRow]:
    """The table's rows as ``ResultRow`` values (also from a table read back from CSV)."""
    clean = results.astype({c: object for c in TEXT_COLUMNS}).fillna({c: "" for c in TEXT_COLUMNS})
    return [ResultRow(**record) for record in clean[list(COLUMNS)].to_dict("records")]


def target_results(results: pd.DataFrame, not_applicable: NotApplicable = NotApplicable()) -> list[TargetResult]:
    """One ``TargetResult`` per implementation, in the order they ran (the cases that did not
    apply from ``not_applicable``)."""
    groups: dict[str, list[ResultRow]] = {}
    for row in _as_rows(results):  # converted at once: pandas costs about as much on a group as on all
        groups.setdefault(row.implementation, []).append(row)
    out = []
    for name in not_applicable.implementations(groups):
        rows = groups.get(name, [])
        cases = len({row.case for row in rows} | not_applicable.cases(name))
        skipped = tuple(not_applicable.counts(name).items())
        out.append(TargetResult(name, name, tuple(rows), cases=cases, skipped=skipped))
    return out

