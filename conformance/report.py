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

import base64
import contextlib
import datetime as dt
import html
import io
import json
import os
import platform
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
from conformance.compare import TOLERANCES
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
}
#: The verdict's mark in Markdown, where a code host shows it in colour.
MARKS = {"pass": "✅", "known defects": "☑️", "fail": "❌", "error": "💥", "nothing ran": "➖"}
_CSS = {"pass": "pass", "known defects": "known", "fail": "fail", "error": "error", "nothing ran": ""}
VERDICT_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "expected_fail": "#ef6c00", "error": "#6a1b9a"}


@dataclass(frozen=True, eq=False)
class Report:
    """What one run produced."""

    results: pd.DataFrame
    timings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TIMING_COLUMNS)))
    environment: dict = field(default_factory=dict)
    expectations: tuple[known.Expectation, ...] = ()
    fd_accuracy: pd.DataFrame | None = None
    #: Set when the run was stopped early: the tables hold the cases that finished.
    interrupted: bool = False

    @property
    def unexpected(self) -> pd.DataFrame:
        """The rows that make the run fail: failures nobody recorded, and errors."""
        return self.results[self.results["verdict"].isin(["fail", "error"])]

    @property
    def exit_code(self) -> int:
        """0 when every row is as expected, 1 otherwise (an interrupted run is never 0)."""
        return 1 if len(self.unexpected) or self.interrupted else 0

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


def worst_errors(results: pd.DataFrame) -> pd.DataFrame:
    """Per implementation and check family, the failing row with the largest relative error."""
    failing = results[results["verdict"].isin(["fail", "expected_fail"]) & results["max_rel_error"].notna()]
    if failing.empty:
        return failing[["implementation", "check", "case", "tensor", "worst_index", "max_rel_error",
                        "max_abs_error", "verdict"]]
    worst = failing.loc[failing.groupby(["implementation", "check"], sort=False)["max_rel_error"].idxmax()]
    return worst[["implementation", "check", "case", "tensor", "worst_index", "max_rel_error", "max_abs_error",
                  "verdict"]].reset_index(drop=True)


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

def findings(results: pd.DataFrame, limit: int = 4) -> list[tuple[str, str, list[str]]]:
    """For every implementation that is not a clean pass: (name, verdict label, lines)."""
    out = []
    for result in target_results(results):
        if result.verdict == "pass":
            continue
        lines = check.problem_lines(result.rows, limit)
        if diagnosed := check.diagnosis_line(result.rows):
            lines.insert(0, diagnosed)
        if result.cases_with("expected_fail"):
            reasons = Counter(r.detail.split(" — ")[0].removeprefix("known defect: ")
                              for r in result.rows if r.verdict == "expected_fail")
            lines += [f"known defect: {reason}" for reason in sorted(reasons)]
        if result.verdict == "nothing ran" and (note := check.not_applicable_line(result)):
            lines.append(note)
        out.append((result.name, LABELS[result.verdict], lines))
    return out


def not_applicable_lines(results: pd.DataFrame) -> list[tuple[str, str]]:
    return [(r.name, line) for r in target_results(results) if (line := check.not_applicable_line(r))]


# ---- Markdown ----------------------------------------------------------------------------

def _cell(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in record) + " |" for record in table.itertuples(index=False)]
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
    found = findings(results)
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
        out += ["## Worst errors", "", "Per implementation and check, the failing tensor furthest from the "
                "reference (relative error at its worst element).", "", markdown_table(worst), ""]
    if na := not_applicable_lines(results):
        out += ["## Cases that do not apply", ""] + [f"- **{name}**: {line}" for name, line in na] + [""]
    out += ["## Result rows by check", "", markdown_table(count_matrix(results)), ""]
    if not report.timings.empty:
        out += ["## Timings", "", TIMING_NOTE, "", markdown_table(timing_summary(report.timings)), ""]
    if (accuracy := fd_accuracy_summary(report.fd_accuracy)) is not None:
        out += ["## Finite-difference oracle accuracy", "", FD_NOTE, "", markdown_table(accuracy), ""]
    out += ["## Environment", "", markdown_table(pd.DataFrame(
        [(k, v) for k, v in report.environment.items() if k != "generator"], columns=["", "value"])), ""]
    out += ["Files: `results.csv` (every row), `timings.csv`, `report.html` (with plots), `environment.json`."]
    return out


TIMING_NOTE = ("Forward and backward (for a loss case: the whole loss-and-gradients call) of each implementation "
               "and of PyTorch on the same cases, measured side by side in the same process: median of "
               "repeats after warm-up, spread ± half the interquartile range. `× PyTorch` above 1 is slower. "
               "Every measurement is in `timings.csv`.")


# ---- plots -------------------------------------------------------------------------------

def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


#: Where an exactly right result is drawn on the logarithmic error axis.
EXACT = 1e-18


def error_plot(results: pd.DataFrame) -> str | None:
    """Relative error of every compared tensor: one panel per check family, one band per
    implementation, coloured by verdict; the float64 and float32 tolerances marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = results[results["max_rel_error"].notna() & results["verdict"].isin(list(VERDICT_COLOURS))]
    families = [f for f in check.FAMILIES if (data["check"] == f).any()]
    if not families:
        return None
    names = list(dict.fromkeys(results["implementation"]))
    rng = np.random.default_rng(0)
    width = max(4.0, 3.6 * len(families))
    figure, axes = plt.subplots(1, len(families), figsize=(width, 1.6 + 0.5 * len(names)), sharey=True,
                                squeeze=False, layout="constrained")
    for ax, family in zip(axes[0], families):
        rows = data[data["check"] == family]
        for verdict, colour in VERDICT_COLOURS.items():
            subset = rows[rows["verdict"] == verdict]
            if subset.empty:
                continue
            y = subset["implementation"].map(names.index).to_numpy() + rng.uniform(-0.3, 0.3, len(subset))
            x = np.clip(subset["max_rel_error"].to_numpy(dtype=float), EXACT, None)
            ax.scatter(x, y, s=9, alpha=0.45, color=colour, label=verdict.replace("_", " "), linewidths=0)
        for dtype, style in (("float64", ":"), ("float32", "--")):
            ax.axvline(TOLERANCES[dtype].rtol, color="grey", linestyle=style, linewidth=1)
        ax.set_xscale("log")
        ax.set_xlim(EXACT / 3, max(10.0, float(np.nanmax(rows["max_rel_error"])) * 3) if len(rows) else 10.0)
        ax.set_title(family, fontsize=11)
        ax.set_xlabel("max relative error (left edge: exact)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(names)), names, fontsize=10)
    axes[0][0].set_ylim(len(names) - 0.5, -0.5)
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]}
    from matplotlib.lines import Line2D

    handles |= {f"{d} rtol": Line2D([], [], color="grey", linestyle=s) for d, s in (("float64", ":"), ("float32", "--"))}
    figure.legend(handles.values(), handles.keys(), loc="outside upper center", ncol=len(handles), fontsize=9,
                  frameon=False)
    for handle in handles.values():
        if hasattr(handle, "set_alpha"):
            handle.set_alpha(1)
    return _png(figure)


def timing_plot(timings: pd.DataFrame) -> str | None:
    """Median time per call against parameter count, every implementation next to PyTorch:
    forward and backward, float64 and float32; one line per network depth through its
    widths; bars are the interquartile range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = timings[timings["ratio"].notna()]
    if data.empty:
        return None
    # Time depends on depth as well as on parameter count: a line joins the widths of one depth.
    data = data.assign(depth=data["layers"].astype(str).str.count("-"))
    dtypes = [d for d in ("float64", "float32") if (data["dtype"] == d).any()]
    figure, axes = plt.subplots(len(dtypes), 2, figsize=(12, 0.6 + 4.0 * len(dtypes)), squeeze=False, sharex=True,
                                layout="constrained")
    colours = plt.get_cmap("tab10")
    names = list(dict.fromkeys(data["implementation"]))
    for row_axes, dtype in zip(axes, dtypes):
        for ax, phase in zip(row_axes, ("forward", "backward")):
            part = data[(data["dtype"] == dtype) & (data["phase"] == phase)]
            for depth, torch in part.groupby("depth")[["n_params", "torch_median_s"]]:
                torch = torch.groupby("n_params").median().reset_index()
                ax.plot(torch["n_params"], torch["torch_median_s"] * 1e6, color="black", linewidth=3, alpha=0.35,
                        marker="s", label="PyTorch (same cases)")
            for number, name in enumerate(names):
                for depth, mine in part[part["implementation"] == name].groupby("depth"):
                    mine = mine.groupby("n_params")[["median_s", "q1_s", "q3_s"]].median().reset_index()
                    ax.errorbar(mine["n_params"], mine["median_s"] * 1e6,
                                yerr=[(mine["median_s"] - mine["q1_s"]) * 1e6, (mine["q3_s"] - mine["median_s"]) * 1e6],
                                color=colours(number % 10), marker="o", markersize=4, linewidth=1.2, capsize=2,
                                label=name)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{phase}, {dtype}", fontsize=11)
            ax.set_ylabel("median time per call (µs)", fontsize=9)
            ax.grid(alpha=0.3, which="both")
    for ax in axes[-1]:
        ax.set_xlabel("parameters in the network", fontsize=9)
    legend = dict(zip(*reversed(axes[0][0].get_legend_handles_labels())))  # one entry per label
    figure.legend(legend.values(), legend.keys(), loc="outside upper center", ncol=min(len(legend), 4), fontsize=9,
                  frameon=False)
    return _png(figure)


# ---- HTML --------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.pass { background: #e8f5e9; } td.fail { background: #ffebee; font-weight: 600; }
td.known { background: #fff3e0; } td.error { background: #f3e5f5; font-weight: 600; }
.partial { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.6em 1em; }
.muted { color: #666; } img { max-width: 100%; } code { font-size: 13px; }
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
            cells.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(png: str | None, alt: str) -> str:
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{png}"></p>' if png else ""


def report_html(report: Report) -> str:
    results, esc = report.results, html.escape
    parts = [f"<h1>Conformance report</h1><p class='muted'>{esc(_headline(report))}</p>"]
    if report.interrupted:
        parts.append("<p class='partial'><b>PARTIAL REPORT</b>: the run was interrupted; these tables hold "
                     "only the cases that finished.</p>")
    parts += [html_table(verdict_table(results), coloured=True), f"<p class='muted'>{esc(CELL_LEGEND)}</p>"]
    parts.append("<h2>What is wrong</h2>")
    found = findings(results)
    if not found:
        parts.append("<p>Nothing: every implementation conforms on every case that applies to it.</p>")
    for name, label, lines in found:
        items = "".join(f"<li><code>{esc(line)}</code></li>" for line in lines)
        parts.append(f"<p><b>{esc(name)}</b> — {esc(label)}</p><ul>{items}</ul>")
    parts += ["<h2>Errors by implementation and check</h2>",
              "<p class='muted'>Each dot is one compared tensor of one case: its largest relative error against "
              "the reference. Dotted and dashed lines: the float64 and float32 relative tolerances.</p>",
              _figure(error_plot(results), "relative error per implementation and check")]
    defects = defect_table(results, report.expectations)
    if not defects.empty:
        parts += ["<h2>Recorded known defects</h2>", html_table(defects)]
    worst = worst_errors(results)
    if not worst.empty:
        parts += ["<h2>Worst errors</h2>", html_table(worst)]
    if na := not_applicable_lines(results):
        parts += ["<h2>Cases that do not apply</h2><ul>"
                  + "".join(f"<li><b>{esc(n)}</b>: {esc(line)}</li>" for n, line in na) + "</ul>"]
    parts += ["<h2>Result rows by check</h2>", html_table(count_matrix(results))]
    if not report.timings.empty:
        parts += ["<h2>Timings</h2>", f"<p class='muted'>{esc(TIMING_NOTE)}</p>",
                  _figure(timing_plot(report.timings), "time against parameter count"),
                  html_table(timing_summary(report.timings)),
                  "<details><summary>Every measurement</summary>" + html_table(_timing_detail(report.timings))
                  + "</details>"]
    if (accuracy := fd_accuracy_summary(report.fd_accuracy)) is not None:
        parts += ["<h2>Finite-difference oracle accuracy</h2>", f"<p class='muted'>{esc(FD_NOTE)}</p>",
                  html_table(accuracy)]
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

