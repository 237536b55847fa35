"""``summary.md``: one screen that says who conforms and what is wrong with the others,
readable on a code host."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from conformance.reporting import escape
from conformance.reporting.tables import (FD_NOTE, NA_NOTE, TIMING_NOTE, WORST_NOTE, count_matrix,
                                          defect_table, fd_accuracy_summary, findings, not_applicable_table,
                                          timing_summary, verdict_table, worst_errors)

if TYPE_CHECKING:
    from conformance.reporting.files import Report


def plain(value) -> str:
    """A value as a table shows it, as plain text on one line."""
    if isinstance(value, float):
        return "" if value != value else f"{value:.3g}"
    return str(value).replace("\n", " ")


def cell(value) -> str:
    """A value as a Markdown table cell: escaped (``escape``), its ``|`` too."""
    return escape.markdown(plain(value)).replace("|", "\\|")


def as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Every value as the text a table shows (floats to 3 significant digits, NaN empty)."""
    return table.astype(object).map(cell) if len(table) else table.astype(str)


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pandas' ``to_markdown`` would need ``tabulate`` for this)."""
    cells = as_text(table)
    header = "| " + " | ".join(cell(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(record) + " |" for record in cells.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def who(report: Report) -> str:
    """What was checked and how many: a grading's students (loaded or not), else implementations."""
    if report.class_view is not None:
        count, kind = len(report.class_view), "student"
    else:
        count, kind = len(report.not_applicable.implementations(report.results["implementation"])), "implementation"
    return f"{count} {kind}{'s' * (count != 1)}"


def headline(report: Report) -> str:
    env, results, skipped = report.environment, report.results, report.not_applicable
    cases = set(results["case"]).union(*(e.cases for e in skipped.entries))
    parts = [who(report),
             f"{len(cases)} cases ({env.get('grid', '?')} grid, seed {env.get('seed', '?')})",
             env.get("date", ""), f"revision {env['git_revision']}" if env.get("git_revision") else ""]
    return " · ".join(p for p in parts if p)


CELL_LEGEND = ("Each check family's cell counts cases: `pass`; `FAIL n` unexpected failures; "
               "`known n` recorded known defects; `error n` the implementation raised, crashed or "
               "hung (gave no answer); `—` no case of that family ran.")


def how_much(report: Report) -> str:
    """How much of an interrupted run finished, as the end of a sentence ('' when not known)."""
    finished = report.environment.get("finished")
    return f" ({finished})" if finished else ""


def summary_markdown(report: Report) -> str:
    results = report.results
    out = ["# Conformance report", "", headline(report), ""]
    if report.interrupted:
        out += ["> **PARTIAL REPORT**: the run was interrupted; these tables hold only the cases that finished"
                f"{how_much(report)}.", ""]
    out += _class_markdown(report)
    table = verdict_table(results, marks=True, not_applicable=report.not_applicable, targets=report.targets)
    out += [markdown_table(table), "",
            CELL_LEGEND, ""]
    out += ["## What is wrong", ""]
    found = findings(results, not_applicable=report.not_applicable, targets=report.targets)
    if not found:
        out += ["Nothing: every implementation conforms on every case that applies to it.", ""]
    for name, label, lines in found:
        out += [f"**{escape.markdown(name)}** — {label}", ""] + [f"- {escape.markdown(line)}" for line in lines] + [""]
    out += _details_markdown(report)
    return "\n".join(out).rstrip() + "\n"


def _class_markdown(report: Report) -> list[str]:
    """Grading only: every student (loaded or not) and the class's mistakes, then the implementations."""
    if report.class_view is None:
        return []
    out = ["## Students", "", markdown_table(report.class_view), "", "`grades.csv` holds the same rows.", ""]
    if report.class_summary is not None and not report.class_summary.empty:
        out += ["## Mistakes in the class", "", markdown_table(report.class_summary), ""]
    return out + ["## Implementations", ""]


def _details_markdown(report: Report) -> list[str]:
    results, out = report.results, []
    defects = defect_table(results, report.expectations)
    if not defects.empty:
        out += ["## Recorded known defects", "",
                "From `implementations/expectations.txt`; their failures count as `expected_fail`.", "",
                markdown_table(defects), ""]
    worst = worst_errors(results)
    if not worst.empty:
        out += ["## Worst errors", "", WORST_NOTE, "", markdown_table(worst), ""]
    if not (na := not_applicable_table(results, report.not_applicable)).empty:
        out += ["## Cases that do not apply", "", NA_NOTE, "", markdown_table(na), ""]
    out += ["## Result rows by check", "", markdown_table(count_matrix(results, report.not_applicable)), ""]
    if not report.timings.empty:
        out += ["## Timings", "", TIMING_NOTE, "", markdown_table(timing_summary(report.timings)), ""]
    if (accuracy := fd_accuracy_summary(report.fd_accuracy)) is not None:
        out += ["## Finite-difference oracle accuracy", "", FD_NOTE, "", markdown_table(accuracy), ""]
    out += ["## Environment", "", markdown_table(pd.DataFrame(
        [(k, v) for k, v in report.environment.items() if k != "generator"], columns=["", "value"])), ""]
    out += ["Files: `results.csv` (every row of the cases that applied), `not_applicable.csv` and "
            "`not_applicable_cases.csv` (the cases that did not, by reason), `timings.csv`, `report.html` "
            "(these tables, with a grid of where each implementation is wrong"
            f"{' and a picture of its speed' if not report.timings.empty else ''}), `environment.json`."]
    return out

