"""``report.html``: the summary's content with plots, one self-contained page."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

import pandas as pd

from conformance.judge.skipped import NotApplicable
from conformance.reporting.environment import GENERATOR
from conformance.reporting.error_grid import STYLE as GRID_STYLE
from conformance.reporting.plots import PAGE_PX
from conformance.reporting.markdown import CELL_LEGEND, headline, how_much, plain as cell
from conformance.reporting.tables import (FD_NOTE, NA_NOTE, TIMING_NOTE, WORST_NOTE, count_matrix,
                                          defect_table, duration, fd_accuracy_summary, findings,
                                          not_applicable_table, timing_summary, verdict_table, worst_errors)
from conformance.reporting.verdicts import LABELS

if TYPE_CHECKING:
    from conformance.reporting.files import Report


_CSS = {"pass": "pass", "known defects": "known", "other convention": "known", "fail": "fail", "error": "error",
        "nothing ran": "", "incomplete": "fail"}


VERDICT_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "expected_fail": "#ef6c00", "error": "#6a1b9a"}

#: What the worst errors' ratio is on this page, which has the grid above them.
WORST_IN_GRID = "For forward, loss and gradient, `error ÷ tolerance` is the figure “Where it is wrong” above shows."
#: Why a report has no timings: the run was told not to time, or it is a grading (which never times).
UNTIMED, UNTIMED_GRADING = ("Not timed (`--no-timing`).",
                            "Not timed: grading checks each submission's gradients and never times it.")

CLASS_NOTE = ("How many students made which mistake: the bugs the diagnosis of each student's worst diagnosed "
              "case names, in full, without where they are or the case's sizes (a student with two mistakes "
              "counts under both); a required kind of case that did not run, and a submission not loaded, too.")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: PAGE_PXpx; color: #222; padding: 0 1em; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5em 0 1.5em; }
table { border-collapse: collapse; font-size: 14px; }
th, td { white-space: nowrap; }
td.long { white-space: normal; min-width: 22em; max-width: 48em; overflow-wrap: anywhere; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
table.sortable th { cursor: pointer; } table.sortable th::after { content: " ⇅"; color: #999; }
td.pass { background: #e8f5e9; } td.fail { background: #ffebee; font-weight: 600; }
td.known { background: #fff3e0; } td.error { background: #f3e5f5; font-weight: 600; }
.partial { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.6em 1em; }
.muted { color: #666; } img { max-width: 100%; height: auto; } code { font-size: 13px; background: #f6f6f6; }
ul.problems code { background: none; overflow-wrap: anywhere; }
li { margin: 0.25em 0; } details { margin-bottom: 1.5em; }
""".replace("PAGE_PX", str(PAGE_PX))


def _cell_class(value: str) -> str:
    for verdict, label in LABELS.items():
        if value == label:
            return _CSS[verdict]
    if value in ("fail", "incomplete", "not loaded"):  # a verdict word, as grading's class view shows it
        return "error" if value == "not loaded" else "fail"
    return {"pass": "pass", "FAIL": "fail", "known": "known", "error": "error"}.get(str(value).split(" ")[0], "")


#: Sorts a ``sortable`` table by the column whose heading is clicked (numbers as numbers;
#: a second click reverses), written here so that the page needs nothing from the network.
SORT_SCRIPT = """<script>
document.querySelectorAll("table.sortable th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], up = th.dataset.order !== "up";
  const key = tr => { const t = tr.cells[col].textContent, n = parseFloat(t); return isNaN(n) ? t : n; };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    return (typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1) * (up ? 1 : -1);
  });
  th.closest("tr").querySelectorAll("th").forEach(h => delete h.dataset.order);
  th.dataset.order = up ? "up" : "down";
  rows.forEach(tr => body.appendChild(tr));
}));
</script>"""

CLASS_VIEW_NOTE = ("Every student, loaded or not: the score, the verdict and the reason in one line. "
                   "Click a heading to sort by it; `grades.csv` holds the same rows for a gradebook.")


def html_table(table: pd.DataFrame, coloured: bool = False, sortable: bool = False) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = []
    for record in table.itertuples(index=False):
        cells = []
        for value in record:
            text = html.escape(cell(value))
            css = _cell_class(value) if coloured else ""
            css = f"{css} long".strip() if len(text) > 40 else css
            cells.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    kind = ' class="sortable"' if sortable else ""
    return (f'<div class="scroll"><table{kind}><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _figure(draw, data, alt: str) -> str:
    """A picture, or a note saying why it could not be drawn (the page stands without it)."""
    from conformance.running.faults import describe_exception

    try:
        png = draw(data)
    except Exception as error:  # a picture is never worth the report
        return _note(f"The picture ({alt}) could not be drawn: {describe_exception(error)}")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{png}"></p>' if png else ""


def _grid(results: pd.DataFrame) -> str:
    """The error grid, or a note saying why it could not be made (the page stands without it)."""
    from conformance.reporting import error_grid
    from conformance.running.faults import describe_exception

    try:
        return error_grid.where_wrong_html(results)
    except Exception as error:  # a picture is never worth the report
        return _note(f"The grid (worst error ÷ tolerance per implementation and tensor) could not be drawn: "
                     f"{describe_exception(error)}")


def inline(text: str) -> str:
    """Text for HTML: escaped, with Markdown's inline `code` shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _note(text: str) -> str:
    return f"<p class='muted'>{inline(text)}</p>"


WHERE_NOTE = ("Each cell is one tensor of one implementation, compared with PyTorch over every case that ran: "
              "✓ when it was within tolerance in every case; otherwise its worst |error| ÷ tolerance (`shape`: a "
              "wrong shape or a missing tensor), red for an unexpected failure and orange for a recorded known "
              "defect, darker the larger (log scale); grey when never compared. On a narrow window the table "
              "scrolls sideways.")


SPEED_NOTE = ("Each implementation's median time as a multiple of PyTorch's on the same case (same process, same "
              "data), against the network's size; below the dashed line it is faster than PyTorch.")


def missing_notes(results: pd.DataFrame, shown: set[str], why: str,
                  not_applicable: NotApplicable = NotApplicable()) -> list[str]:
    """A line for every implementation of the run a picture leaves out, and why."""
    return [f"{name}: {why}" for name in not_applicable.implementations(results["implementation"])
            if name not in shown]


def _timing_gaps(report: Report) -> list[str]:
    timings = report.timings
    lines = []
    for name in report.not_applicable.implementations(report.results["implementation"]):
        mine = timings[timings["implementation"] == name]
        if mine.empty:
            lines.append(f"{name}: not timed — no case ran to the end without an error (nothing to time)")
        elif mine["ratio"].isna().all():
            reasons = sorted({str(d) for d in mine["detail"].dropna() if str(d)}) or ["no measurement"]
            lines.append(f"{name}: not timed — {'; '.join(reasons)}")
    return lines


def report_html(report: Report) -> str:
    results, esc = report.results, html.escape
    parts = [f"<h1>Conformance report</h1><p class='muted'>{esc(headline(report))}</p>"]
    if report.interrupted:
        parts.append("<p class='partial'><b>PARTIAL REPORT</b>: the run was interrupted; these tables hold "
                     f"only the cases that finished{esc(how_much(report))}.</p>")
    if report.class_view is not None and not report.class_view.empty:
        parts += ["<h2>Students</h2>", _note(CLASS_VIEW_NOTE),
                  html_table(report.class_view, coloured=True, sortable=True), SORT_SCRIPT]
    if report.class_summary is not None and not report.class_summary.empty:
        parts += ["<h2>Mistakes in the class</h2>", _note(CLASS_NOTE), html_table(report.class_summary)]
    parts += ["<h2>Implementations</h2>" if report.class_view is not None else "",
              html_table(verdict_table(results, not_applicable=report.not_applicable, targets=report.targets),
                         coloured=True),
              _note(CELL_LEGEND)]
    parts.append("<h2>What is wrong</h2>")
    found = findings(results, not_applicable=report.not_applicable, targets=report.targets)
    if not found:
        parts.append("<p>Nothing: every implementation conforms on every case that applies to it.</p>")
    for name, label, lines in found:
        items = "".join(f"<li><code>{esc(line)}</code></li>" for line in lines)
        parts.append(f"<p><b>{esc(name)}</b> — {esc(label)}</p><ul class='problems'>{items}</ul>")
    from conformance.reporting import plots

    ratio, _ = plots.where_wrong_table(results)
    drawn = {name for name in ratio.index if ratio.loc[name].notna().any()}
    parts += ["<h2>Where it is wrong</h2>", _note(WHERE_NOTE), _grid(results)]
    parts += [_note(line) for line in missing_notes(results, drawn, "not in the picture — no case of the grid "
                                                                   "applies to it, so nothing was compared",
                                     report.not_applicable)]
    defects = defect_table(results, report.expectations)
    if not defects.empty:
        parts += ["<h2>Recorded known defects</h2>", html_table(defects)]
    worst = worst_errors(results)
    if not worst.empty:
        parts += ["<h2>Worst errors</h2>", _note(f"{WORST_NOTE} {WORST_IN_GRID}"), html_table(worst)]
    if not (na := not_applicable_table(results, report.not_applicable)).empty:
        parts += ["<h2>Cases that do not apply</h2>", _note(NA_NOTE), html_table(na)]
    parts += ["<h2>Result rows by check</h2>", html_table(count_matrix(results, report.not_applicable))]
    if not report.timings.empty:
        parts += ["<h2>Timings</h2>", _note(SPEED_NOTE),
                  _figure(plots.speed, report.timings, "time as a multiple of PyTorch's against network size")]
        parts += [_note(line) for line in _timing_gaps(report)]
        parts += [_note(TIMING_NOTE), html_table(timing_summary(report.timings)),
                  "<details><summary>Every measurement</summary>" + html_table(_timing_detail(report.timings))
                  + "</details>"]
    elif report.environment.get("timing_rules") == "not timed":
        parts += ["<h2>Timings</h2>", _note(UNTIMED_GRADING if report.class_view is not None else UNTIMED)]
    if (accuracy := fd_accuracy_summary(report.fd_accuracy)) is not None:
        parts += ["<h2>Finite-difference oracle accuracy</h2>", _note(FD_NOTE), html_table(accuracy)]
    env = pd.DataFrame([(k, v) for k, v in report.environment.items() if k != "generator"], columns=["", "value"])
    parts += ["<h2>Environment</h2>", html_table(env)]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="generator" content="{GENERATOR}"><title>Conformance report</title>'
            f"<style>{STYLE}{GRID_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def _timing_detail(timings: pd.DataFrame) -> pd.DataFrame:
    shown = timings[["implementation", "layers", "n_params", "dtype", "loss", "phase"]].copy()
    shown["median"] = timings["median_s"].map(duration)
    shown["IQR"] = timings["iqr_s"].map(duration)
    shown["PyTorch median"] = timings["torch_median_s"].map(duration)
    shown["× PyTorch"] = timings["ratio"].map(lambda r: "" if r != r else f"{r:.2f}")
    shown["detail"] = timings["detail"].fillna("")
    return shown

