"""The report: a run's tables (results, timings, environment) and the files written from them.

``Report`` holds what a run produced, as pandas tables. ``write`` puts it in a
folder: ``results.csv`` (one row per implementation × case × check × tensor),
``timings.csv``, ``fd_accuracy.csv`` when the finite-difference oracle measured
itself, ``environment.json``, ``summary.md`` (one screen that says who
conforms and what is wrong with the others, readable on a code host) and
``report.html`` (the same with plots). Every file is written atomically, and
a file of the same name that this suite did not write is never overwritten.

The verdicts and problem lines are the ones ``conformance check`` prints
(``conformance.check``), so the terminal and the report always agree.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import os
import platform
import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from conformance import check
from conformance import expectations as known
from conformance.results import COLUMNS, VERDICTS, ResultRow

GENERATOR = "backprop-conformance"
CASE_COLUMNS = ("implementation", "case", "layers", "activation", "bias", "loss", "batch", "dtype", "seed")
TIMING_COLUMNS = CASE_COLUMNS + (
    "n_params", "phase", "median_s", "q1_s", "q3_s", "iqr_s", "repeats", "calls_per_repeat",
    "torch_median_s", "torch_iqr_s", "ratio", "detail",
)
FILES = ("results.csv", "timings.csv", "fd_accuracy.csv", "environment.json", "summary.md", "report.html")
LABELS = {
    "pass": "conforms",
    "known defects": "conforms apart from recorded known defects",
    "fail": "DOES NOT CONFORM",
    "error": "errors (raised, crashed or no answer)",
    "nothing ran": "nothing ran (no case applies)",
    "incomplete": "INCOMPLETE (required cases did not run)",
}
#: The verdict's mark in Markdown, where a code host shows it in colour.
MARKS = {"pass": "✅", "known defects": "☑️", "fail": "❌", "error": "💥", "nothing ran": "➖", "incomplete": "⚠️"}
_CSS = {"pass": "pass", "known defects": "known", "fail": "fail", "error": "error", "nothing ran": "",
        "incomplete": "fail"}
VERDICT_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "expected_fail": "#ef6c00", "error": "#6a1b9a"}


CLASS_NOTE = ("How many students made which mistake: each student's worst diagnosed case, its diagnosis "
              "without the case's particulars (a student with two mistakes counts under both).")


@dataclass(frozen=True, eq=False)
class Report:
    """What one run produced."""

    results: pd.DataFrame
    timings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TIMING_COLUMNS)))
    environment: dict = field(default_factory=dict)
    expectations: tuple[known.Expectation, ...] = ()
    fd_accuracy: pd.DataFrame | None = None
    #: Set when the run was stopped early: the tables hold the targets that finished.
    interrupted: bool = False
    #: Targets whose worker could not load them, each with the reason.
    not_loaded: tuple = ()
    #: What each target's adapter calls itself (display text only), by target.
    labels: dict = field(default_factory=dict)
    #: What loading each target noticed (a notebook's skipped lines, cells that raised), by target.
    load_notes: dict = field(default_factory=dict)
    #: Grading only: how many students made which mistake (see ``grading.summary``).
    class_summary: pd.DataFrame | None = None

    @property
    def unexpected(self) -> pd.DataFrame:
        """The rows that make the run fail: failures nobody recorded, and errors."""
        return self.results[self.results["verdict"].isin(["fail", "error"])]

    @property
    def exit_code(self) -> int:
        """0 when every row is as expected, 1 otherwise (an interrupted run is never 0)."""
        return 1 if len(self.unexpected) or self.interrupted or self.not_loaded else 0

    def write(self, out: Path | str) -> list[Path]:
        return write(self, out)


# ---- the run's environment ---------------------------------------------------------------

def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _processor() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def git_revision(folder: Path = Path(__file__).resolve().parent.parent) -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes to tracked files), or ''."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        revision = git("rev-parse", "--short=12", "HEAD")
        return revision + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(seed: int, grid: str, command: str = "") -> dict:
    """Where and how a run happened: versions, machine, seed, grid, date, revision."""
    import torch

    return {
        "generator": GENERATOR,
        "version": _version(GENERATOR).replace("not installed", "source checkout"),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": command,
        "seed": seed,
        "grid": grid,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "processor": _processor(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


# ---- tables ------------------------------------------------------------------------------

def _as_rows(results: pd.DataFrame) -> list[ResultRow]:
    """The table's rows as ``ResultRow`` values (also from a table read back from CSV)."""
    texts = ["implementation", "case", "layers", "activation", "loss", "dtype", "check", "tensor",
             "worst_index", "tolerance", "verdict", "detail"]
    clean = results.astype({c: object for c in texts}).fillna({c: "" for c in texts})
    return [ResultRow(**record) for record in clean[list(COLUMNS)].to_dict("records")]


def target_results(results: pd.DataFrame) -> list[check.TargetResult]:
    """One ``TargetResult`` per implementation, in the order they ran."""
    out = []
    for name, group in results.groupby("implementation", sort=False):
        out.append(check.TargetResult(name, name, tuple(_as_rows(group)), cases=group["case"].nunique()))
    return out


def _present_families(results: pd.DataFrame) -> list[str]:
    ran = results[results["verdict"] != "not_applicable"]
    return [family for family in check.FAMILIES if (ran["check"] == family).any()]


def verdict_table(results: pd.DataFrame, marks: bool = False) -> pd.DataFrame:
    """One row per implementation: its verdict, cases run, and one word per check family."""
    families = _present_families(results)
    records = []
    for result in target_results(results):
        words = result.families()
        label = f"{MARKS[result.verdict]} {LABELS[result.verdict]}" if marks else LABELS[result.verdict]
        records.append({"implementation": result.name, "verdict": label,
                        "cases run": f"{len({r.case for r in result.ran})}/{result.cases}",
                        **{family: words[family] for family in families}})
    return pd.DataFrame.from_records(records, columns=["implementation", "verdict", "cases run", *families])


def count_matrix(results: pd.DataFrame) -> pd.DataFrame:
    """Rows per implementation × check family × verdict, every verdict a column."""
    counts = results.groupby(["implementation", "check", "verdict"], sort=False).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(VERDICTS), fill_value=0)
    order = {c: i for i, c in enumerate(check.CHECKS)}
    names = list(dict.fromkeys(results["implementation"]))
    return (counts.reset_index()
            .sort_values(["implementation", "check"], key=lambda s: s.map(names.index) if s.name == "implementation"
                         else s.map(lambda c: order.get(c, len(order))))
            .reset_index(drop=True))


WORST_COLUMNS = ("implementation", "check", "case", "tensor", "worst element", "|error|", "tolerance there",
                 "error ÷ tolerance", "verdict")
WORST_NOTE = ("Per implementation and check, the failing tensor furthest outside its tolerance. `worst element` is "
              "the element whose |error| exceeds its tolerance by the largest factor; `|error|` is "
              "|implementation − reference| there and `tolerance there` what that element was allowed (both as "
              "the row's `detail` in results.csv states them); `error ÷ tolerance` is their ratio, the figure the "
              "picture above is coloured by. The reference is PyTorch for forward, loss and gradient, and the "
              "finite-difference estimate for fd_directional and fd_entry. (results.csv's `max_abs_error` and "
              "`max_rel_error` are maxima over every element of the tensor, which may be other elements.)")


def worst_errors(results: pd.DataFrame) -> pd.DataFrame:
    """Per implementation and check family, the failing row with the largest error ÷ tolerance
    at its worst element (rows whose detail gives no figure, such as a wrong shape, are left out)."""
    from conformance.reporting.plots import _RATIO, error_ratio

    failing = results[results["verdict"].isin(["fail", "expected_fail"])]
    failing = failing.assign(ratio=failing["detail"].map(error_ratio)).dropna(subset=["ratio"])
    if failing.empty:
        return pd.DataFrame(columns=list(WORST_COLUMNS))
    worst = failing.loc[failing.groupby(["implementation", "check"], sort=False)["ratio"].idxmax()]
    figures = worst["detail"].str.extract(_RATIO.pattern)
    return pd.DataFrame({
        "implementation": worst["implementation"], "check": worst["check"], "case": worst["case"],
        "tensor": worst["tensor"], "worst element": worst["worst_index"], "|error|": figures[0].astype(float),
        "tolerance there": figures[1].astype(float), "error ÷ tolerance": worst["ratio"], "verdict": worst["verdict"],
    }).reset_index(drop=True)


def defect_table(results: pd.DataFrame, expectations: tuple[known.Expectation, ...]) -> pd.DataFrame:
    """The recorded known defects of the implementations in the run, with the cases each explained."""
    names = set(results["implementation"])
    marked = results[results["verdict"] == "expected_fail"]
    records = []
    for e in expectations:
        if e.implementation in names:
            cases = marked[(marked["implementation"] == e.implementation)
                           & marked["detail"].str.startswith(f"known defect: {e.reason} — ")]["case"].nunique()
            records.append({"implementation": e.implementation, "what is wrong": e.reason,
                            "cases": e.cases, "tensors": e.tensors, "cases marked": cases})
    return pd.DataFrame.from_records(records, columns=["implementation", "what is wrong", "cases", "tensors",
                                                       "cases marked"])


def timing_summary(timings: pd.DataFrame) -> pd.DataFrame:
    """Per implementation and phase: how many times PyTorch's time it takes, median and range
    over the timed cases, and its time on the largest network."""
    ok = timings[timings["ratio"].notna()]
    records = []
    for (name, phase), group in ok.groupby(["implementation", "phase"], sort=False):
        largest = group.loc[group["n_params"].idxmax()]
        records.append({
            "implementation": name, "phase": phase, "cases": len(group),
            "× PyTorch (median)": f"{group['ratio'].median():.2f}",
            "range": f"{group['ratio'].min():.2f}–{group['ratio'].max():.2f}",
            "largest network": f"{largest['layers']} ({int(largest['n_params']):,} params, {largest['dtype']})",
            "its time": f"{_duration(largest['median_s'])} ± {_duration(largest['iqr_s'] / 2)}",
            "PyTorch's": f"{_duration(largest['torch_median_s'])} ± {_duration(largest['torch_iqr_s'] / 2)}",
        })
    return pd.DataFrame.from_records(records)


FD_NOTE = ("The finite-difference oracle measured against float64 autograd on the smooth cases of the grid: "
           "relative error of its estimates, next to the scheme's theoretical floor (every row in "
           "`fd_accuracy.csv`). `dtype` is the arithmetic the objective is evaluated in: float64 for every "
           "implementation that accepts float64 (float32 cases included), float32 for a float32-only one.")


def fd_accuracy_summary(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The finite-difference oracle's accuracy by dtype and mode, or None without one."""
    if table is None or table.empty:
        return None
    from conformance.oracles.finite_difference import accuracy_summary

    return accuracy_summary(table)


def _duration(seconds: float) -> str:
    if seconds != seconds:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


# ---- what is wrong, in words -------------------------------------------------------------

#: Where a report file's short list of problems sends the reader for the rest.
MORE_IN_FILES = "each failing row is in results.csv: verdict fail or error, column detail"


def findings(results: pd.DataFrame, limit: int = 4, more_in: str = check.MORE_IN) -> list[tuple[str, str, list[str]]]:
    """For every implementation that is not a clean pass: (name, verdict label, lines)."""
    out = []
    for result in target_results(results):
        if result.verdict == "pass":
            continue
        lines = check.problem_lines(result.rows, limit, more_in)
        if diagnosed := check.diagnosis_line(result.rows):
            lines.insert(0, diagnosed)
        if result.cases_with("expected_fail"):
            reasons = Counter(r.detail.split(" — ")[0].removeprefix("known defect: ")
                              for r in result.rows if r.verdict == "expected_fail")
            lines += [f"known defect: {reason}" for reason in sorted(reasons)]
        if result.verdict == "nothing ran":
            lines.append("no case of the grid applies to it: see “Cases that do not apply” for every reason")
        out.append((result.name, LABELS[result.verdict], lines))
    return out


def not_applicable_table(results: pd.DataFrame) -> pd.DataFrame:
    """Every reason a case did not apply, per implementation, with how many cases it excluded
    (all of them: the console shortens this list, the report does not)."""
    rows = results[(results["check"] == "case") & (results["verdict"] == "not_applicable")]
    counts = rows.groupby(["implementation", "detail"], sort=False)["case"].nunique().reset_index()
    counts = counts.rename(columns={"detail": "reason", "case": "cases"})
    totals = results.groupby("implementation", sort=False)["case"].nunique()
    counts["of"] = counts["implementation"].map(totals)
    order = {name: i for i, name in enumerate(dict.fromkeys(results["implementation"]))}
    return (counts.sort_values(["implementation", "cases"], key=lambda c: c.map(order) if c.name == "implementation"
                               else -c, kind="stable").reset_index(drop=True))


# ---- Markdown ----------------------------------------------------------------------------

def _cell(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _cells(table: pd.DataFrame) -> pd.DataFrame:
    """Every value as the text a table shows (floats to 3 significant digits, NaN empty)."""
    return table.astype(object).map(_cell) if len(table) else table.astype(str)


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pandas' ``to_markdown`` would need ``tabulate`` for this)."""
    cells = _cells(table)
    header = "| " + " | ".join(_cell(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(record) + " |" for record in cells.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _headline(report: Report) -> str:
    env, results = report.environment, report.results
    count = results["implementation"].nunique()
    parts = [f"{count} implementation{'s' * (count != 1)}",
             f"{results['case'].nunique()} cases ({env.get('grid', '?')} grid, seed {env.get('seed', '?')})",
             env.get("date", ""), f"revision {env['git_revision']}" if env.get("git_revision") else ""]
    return " · ".join(p for p in parts if p)


CELL_LEGEND = ("Each check family's cell counts cases: `pass`; `FAIL n` unexpected failures; "
               "`known n` recorded known defects; `error n` the implementation raised, crashed or "
               "returned no answer; `—` no case of that family ran.")


def summary_markdown(report: Report) -> str:
    results = report.results
    out = ["# Conformance report", "", _headline(report), ""]
    if report.interrupted:
        out += ["> **PARTIAL REPORT**: the run was interrupted; these tables hold only the cases that finished.", ""]
    out += [markdown_table(verdict_table(results, marks=True)), "", CELL_LEGEND, ""]
    out += ["## What is wrong", ""]
    found = findings(results, more_in=MORE_IN_FILES)
    if not found:
        out += ["Nothing: every implementation conforms on every case that applies to it.", ""]
    for name, label, lines in found:
        out += [f"**{name}** — {label}", ""] + [f"- {line}" for line in lines] + [""]
    out += _details_markdown(report)
    return "\n".join(out).rstrip() + "\n"


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
    if not (na := not_applicable_table(results)).empty:
        out += ["## Cases that do not apply", "", NA_NOTE, "", markdown_table(na), ""]
    out += ["## Result rows by check", "", markdown_table(count_matrix(results)), ""]
    if not report.timings.empty:
        out += ["## Timings", "", TIMING_NOTE, "", markdown_table(timing_summary(report.timings)), ""]
    if (accuracy := fd_accuracy_summary(report.fd_accuracy)) is not None:
        out += ["## Finite-difference oracle accuracy", "", FD_NOTE, "", markdown_table(accuracy), ""]
    out += ["## Environment", "", markdown_table(pd.DataFrame(
        [(k, v) for k, v in report.environment.items() if k != "generator"], columns=["", "value"])), ""]
    out += ["Files: `results.csv` (every row), `timings.csv`, `report.html` (with plots), `environment.json`."]
    return out


NA_NOTE = ("Every reason an implementation's adapter gave for a case it does not support, and how many cases "
           "of the grid (`of`) each one excluded; those cases are `not_applicable`, never passed.")
TIMING_NOTE = ("Forward and backward (for a loss case: the whole loss-and-gradients call) of each implementation "
               "and of PyTorch on the same cases, measured side by side in the same process: median of "
               "repeats after warm-up, spread ± half the interquartile range. `× PyTorch` above 1 is slower. "
               "Every measurement is in `timings.csv`.")


# ---- HTML --------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1300px; color: #222; padding: 0 1em; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5em 0 1.5em; }
table { border-collapse: collapse; font-size: 14px; }
th, td { white-space: nowrap; }
td.long { white-space: normal; min-width: 22em; max-width: 48em; overflow-wrap: anywhere; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.pass { background: #e8f5e9; } td.fail { background: #ffebee; font-weight: 600; }
td.known { background: #fff3e0; } td.error { background: #f3e5f5; font-weight: 600; }
.partial { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.6em 1em; }
.muted { color: #666; } img { max-width: 100%; height: auto; } code { font-size: 13px; background: #f6f6f6; }
ul.problems code { background: none; overflow-wrap: anywhere; }
li { margin: 0.25em 0; } details { margin-bottom: 1.5em; }
"""


def _cell_class(value: str) -> str:
    for verdict, label in LABELS.items():
        if value == label:
            return _CSS[verdict]
    return {"pass": "pass", "FAIL": "fail", "known": "known", "error": "error"}.get(str(value).split(" ")[0], "")


def html_table(table: pd.DataFrame, coloured: bool = False) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = []
    for record in table.itertuples(index=False):
        cells = []
        for value in record:
            text = html.escape(_cell(value))
            css = _cell_class(value) if coloured else ""
            css = f"{css} long".strip() if len(text) > 40 else css
            cells.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _figure(png: str | None, alt: str) -> str:
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{png}"></p>' if png else ""


def inline(text: str) -> str:
    """Text for HTML: escaped, with Markdown's inline `code` shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _note(text: str) -> str:
    return f"<p class='muted'>{inline(text)}</p>"


WHERE_NOTE = ("Each cell is one tensor of one implementation, compared with PyTorch over every case that ran: "
              "green when it was within tolerance in every case; otherwise coloured by its worst |error| ÷ "
              "tolerance (log scale; the label gives the factor, `shape` a wrong shape or a missing tensor); "
              "grey when never compared. Recorded known defects are coloured like any failure.")
SPEED_NOTE = ("Each implementation's median time as a multiple of PyTorch's on the same case (same process, same "
              "data), against the network's size; below the dashed line it is faster than PyTorch.")


def missing_notes(results: pd.DataFrame, shown: set[str], why: str) -> list[str]:
    """A line for every implementation of the run a picture leaves out, and why."""
    return [f"{name}: {why}" for name in dict.fromkeys(results["implementation"]) if name not in shown]


def _timing_gaps(report: Report) -> list[str]:
    timings = report.timings
    lines = []
    for name in dict.fromkeys(report.results["implementation"]):
        mine = timings[timings["implementation"] == name]
        if mine.empty:
            lines.append(f"{name}: not timed — no case ran to the end without an error (nothing to time)")
        elif mine["ratio"].isna().all():
            reasons = sorted({str(d) for d in mine["detail"].dropna() if str(d)}) or ["no measurement"]
            lines.append(f"{name}: not timed — {'; '.join(reasons)}")
    return lines


def report_html(report: Report) -> str:
    results, esc = report.results, html.escape
    parts = [f"<h1>Conformance report</h1><p class='muted'>{esc(_headline(report))}</p>"]
    if report.interrupted:
        parts.append("<p class='partial'><b>PARTIAL REPORT</b>: the run was interrupted; these tables hold "
                     "only the cases that finished.</p>")
    parts += [html_table(verdict_table(results), coloured=True), _note(CELL_LEGEND)]
    if report.class_summary is not None and not report.class_summary.empty:
        parts += ["<h2>Mistakes in the class</h2>", _note(CLASS_NOTE), html_table(report.class_summary)]
    parts.append("<h2>What is wrong</h2>")
    found = findings(results, more_in=MORE_IN_FILES)
    if not found:
        parts.append("<p>Nothing: every implementation conforms on every case that applies to it.</p>")
    for name, label, lines in found:
        items = "".join(f"<li><code>{esc(line)}</code></li>" for line in lines)
        parts.append(f"<p><b>{esc(name)}</b> — {esc(label)}</p><ul class='problems'>{items}</ul>")
    from conformance.reporting import plots

    ratio, _ = plots.where_wrong_table(results)
    drawn = {name for name in ratio.index if ratio.loc[name].notna().any()}
    parts += ["<h2>Where it is wrong</h2>", _note(WHERE_NOTE),
              _figure(plots.where_wrong(results), "worst error ÷ tolerance per implementation and tensor")]
    parts += [_note(line) for line in missing_notes(results, drawn, "not in the picture — no case of the grid "
                                                                   "applies to it, so nothing was compared")]
    defects = defect_table(results, report.expectations)
    if not defects.empty:
        parts += ["<h2>Recorded known defects</h2>", html_table(defects)]
    worst = worst_errors(results)
    if not worst.empty:
        parts += ["<h2>Worst errors</h2>", _note(WORST_NOTE), html_table(worst)]
    if not (na := not_applicable_table(results)).empty:
        parts += ["<h2>Cases that do not apply</h2>", _note(NA_NOTE), html_table(na)]
    parts += ["<h2>Result rows by check</h2>", html_table(count_matrix(results))]
    if not report.timings.empty:
        parts += ["<h2>Timings</h2>", _note(SPEED_NOTE),
                  _figure(plots.speed(report.timings), "time as a multiple of PyTorch's against network size")]
        parts += [_note(line) for line in _timing_gaps(report)]
        parts += [_note(TIMING_NOTE), html_table(timing_summary(report.timings)),
                  "<details><summary>Every measurement</summary>" + html_table(_timing_detail(report.timings))
                  + "</details>"]
    elif report.environment.get("timing_rules") == "not timed":
        parts += ["<h2>Timings</h2>", _note("Not timed (`--no-timing`).")]
    if (accuracy := fd_accuracy_summary(report.fd_accuracy)) is not None:
        parts += ["<h2>Finite-difference oracle accuracy</h2>", _note(FD_NOTE), html_table(accuracy)]
    env = pd.DataFrame([(k, v) for k, v in report.environment.items() if k != "generator"], columns=["", "value"])
    parts += ["<h2>Environment</h2>", html_table(env)]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="generator" content="{GENERATOR}"><title>Conformance report</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def _timing_detail(timings: pd.DataFrame) -> pd.DataFrame:
    shown = timings[["implementation", "layers", "n_params", "dtype", "loss", "phase"]].copy()
    shown["median"] = timings["median_s"].map(_duration)
    shown["IQR"] = timings["iqr_s"].map(_duration)
    shown["PyTorch median"] = timings["torch_median_s"].map(_duration)
    shown["× PyTorch"] = timings["ratio"].map(lambda r: "" if r != r else f"{r:.2f}")
    shown["detail"] = timings["detail"].fillna("")
    return shown


# ---- writing -----------------------------------------------------------------------------

class ReportError(Exception):
    """The report cannot be written there; the message is one line for the user."""


def _is_ours(path: Path) -> bool:
    """Whether an existing file is one this suite wrote (so replacing it loses nothing)."""
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix == ".csv":
        if path.name == "fd_accuracy.csv":
            return (path.parent / "environment.json").exists() and _is_ours(path.parent / "environment.json")
        return head.startswith("implementation,case,")
    if path.suffix == ".json":
        return f'"generator": "{GENERATOR}"' in head
    if path.suffix == ".md":
        return head.startswith("# Conformance report")
    return f'<meta name="generator" content="{GENERATOR}">' in head


def check_writable(out: Path | str) -> Path:
    """The folder the report goes to, created if missing; ``ReportError`` if it cannot be used."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise ReportError(f"{out} cannot be written to: the report needs a folder it may create files in "
                          f"({error.strerror or error}); choose another with --out") from None
    if foreign := [name for name in FILES if (out / name).exists() and not _is_ours(out / name)]:
        raise ReportError(f"{out} already holds {', '.join(foreign)} not written by this suite; "
                          f"choose another folder with --out")
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomically(path: Path, content: str | bytes) -> None:
    mode = "wb" if isinstance(content, bytes) else "w"
    handle = tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=f".{path.name}.", suffix=".partial",
                                         delete=False, **({} if mode == "wb" else {"encoding": "utf-8"}))
    try:
        with handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())  # as an ordinary file, not the temporary file's 0600
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


def _csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, lineterminator="\n")


def write(report: Report, out: Path | str) -> list[Path]:
    """Every file of the report into ``out``; returns their paths. Each file is written to a
    temporary name and moved into place, so a reader never sees half a file."""
    out = check_writable(out)
    contents = {
        "results.csv": _csv(report.results.reindex(columns=list(COLUMNS))),
        "timings.csv": _csv(report.timings.reindex(columns=list(TIMING_COLUMNS))),
    }
    if report.fd_accuracy is not None:
        contents["fd_accuracy.csv"] = _csv(report.fd_accuracy)
    contents["environment.json"] = json.dumps(report.environment | {"interrupted": report.interrupted},
                                              indent=2, default=str) + "\n"
    contents["summary.md"] = summary_markdown(report)
    contents["report.html"] = report_html(report)
    written = []
    for name, content in contents.items():
        _write_atomically(out / name, content)
        written.append(out / name)
    return written


def read(folder: Path | str) -> Report:
    """A written report, loaded back for a notebook (results, timings, environment)."""
    folder = Path(folder)
    results = pd.read_csv(folder / "results.csv", keep_default_na=False, na_values=[""])
    timings = pd.read_csv(folder / "timings.csv")
    env = json.loads((folder / "environment.json").read_text(encoding="utf-8"))
    fd = pd.read_csv(folder / "fd_accuracy.csv") if (folder / "fd_accuracy.csv").exists() else None
    return Report(results, timings, env, fd_accuracy=fd, interrupted=bool(env.pop("interrupted", False)))

