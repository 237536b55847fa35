"""The report's tables, as pandas DataFrames: verdicts per implementation, row counts,
worst errors, known defects, timings, cases that do not apply, and what is wrong in words."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import pandas as pd

from conformance.judge import expectations as known
from conformance.judge.results import CHECKS, VERDICTS, cases_checked
from conformance.judge.skipped import NotApplicable
from conformance.oracles.fd_accuracy import ACCURACY_CASES
from conformance.reporting import brief, verdicts
from conformance.reporting.verdicts import LABELS, MARKS, TargetResult, target_results


CASE_COLUMNS = ("implementation", "case", "layers", "activation", "bias", "loss", "batch", "dtype", "seed")


TIMING_COLUMNS = CASE_COLUMNS + (
    "n_params", "phase", "median_s", "q1_s", "q3_s", "iqr_s", "repeats", "calls_per_repeat",
    "torch_median_s", "torch_iqr_s", "ratio", "detail",
)


def _present_families(results: pd.DataFrame) -> list[str]:
    ran = results[results["verdict"] != "not_applicable"]
    return [family for family in verdicts.FAMILIES if (ran["check"] == family).any()]


def verdict_table(results: pd.DataFrame, marks: bool = False, not_applicable: NotApplicable = NotApplicable(),
                  targets: Sequence[TargetResult] | None = None) -> pd.DataFrame:
    """One row per implementation: its verdict, cases run, and one word per check family
    (``targets``: the results' ``target_results`` when the caller has them already)."""
    families = _present_families(results)
    records = []
    for result in target_results(results, not_applicable) if targets is None else targets:
        words = result.families()
        label = f"{MARKS[result.verdict]} {LABELS[result.verdict]}" if marks else LABELS[result.verdict]
        records.append({"implementation": result.name, "verdict": label,
                        "cases run": f"{len(cases_checked(result.rows))}/{result.cases}",
                        **{family: words[family] for family in families}})
    return pd.DataFrame.from_records(records, columns=["implementation", "verdict", "cases run", *families])


def count_matrix(results: pd.DataFrame, not_applicable: NotApplicable = NotApplicable()) -> pd.DataFrame:
    """Rows per implementation × check family × verdict, every verdict a column (the cases that
    did not apply counted as the ``case`` rows they stand for)."""
    sizes = results.groupby(["implementation", "check", "verdict"], sort=False).size()
    if not_applicable.entries:
        keys = [(e.implementation, "case", "not_applicable") for e in not_applicable.entries]
        extra = pd.Series([len(e.cases) for e in not_applicable.entries], index=pd.MultiIndex.from_tuples(keys))
        sizes = pd.concat([sizes, extra]).groupby(level=[0, 1, 2], sort=False).sum()
        sizes.index.names = ["implementation", "check", "verdict"]
    counts = sizes.unstack(fill_value=0)
    counts = counts.reindex(columns=list(VERDICTS), fill_value=0)
    order = {c: i for i, c in enumerate(CHECKS)}
    names = not_applicable.implementations(dict.fromkeys(results["implementation"]))
    return (counts.reset_index()
            .sort_values(["implementation", "check"], key=lambda s: s.map(names.index) if s.name == "implementation"
                         else s.map(lambda c: order.get(c, len(order))))
            .reset_index(drop=True))


WORST_COLUMNS = ("implementation", "check", "case", "tensor", "worst element", "|error|", "tolerance there",
                 "error ÷ tolerance", "verdict")


WORST_NOTE = ("Per implementation and check, the failing tensor furthest outside its tolerance. `worst element` is "
              "the element whose |error| exceeds its tolerance by the largest factor; `|error|` is "
              "|implementation − reference| there and `tolerance there` what that element was allowed (both as "
              "the row's `detail` in results.csv states them); `error ÷ tolerance` is their ratio. The reference "
              "is PyTorch for forward, loss and gradient, and the finite-difference estimate for fd_directional "
              "and fd_entry. (results.csv's `max_abs_error` and `max_rel_error` are maxima over every element of "
              "the tensor, which may be other elements.)")


def worst_errors(results: pd.DataFrame) -> pd.DataFrame:
    """Per implementation and check family, the failing row with the largest error ÷ tolerance
    at its worst element (rows whose detail gives no figure, such as a wrong shape, are left out)."""
    from conformance.reporting.plots import error_ratio

    failing = results[results["verdict"].isin(["fail", "expected_fail"])]
    failing = failing.assign(ratio=failing["detail"].map(error_ratio)).dropna(subset=["ratio"])
    if failing.empty:
        return pd.DataFrame(columns=list(WORST_COLUMNS))
    worst = failing.loc[failing.groupby(["implementation", "check"], sort=False)["ratio"].idxmax()]
    figures = worst["detail"].str.extract(brief.RATIO.pattern)
    return pd.DataFrame({
        "implementation": worst["implementation"], "check": worst["check"], "case": worst["case"],
        "tensor": worst["tensor"], "worst element": worst["worst_index"], "|error|": figures[0].astype(float),
        "tolerance there": figures[2].astype(float), "error ÷ tolerance": worst["ratio"], "verdict": worst["verdict"],
    }).reset_index(drop=True)


def defect_table(results: pd.DataFrame, expectations: tuple[known.Expectation, ...]) -> pd.DataFrame:
    """The recorded known defects of the implementations in the run, with the cases each explained."""
    names = set(results["implementation"])
    marked = results[results["verdict"] == "expected_fail"]
    records = []
    for e in expectations:
        if e.implementation in names:
            cases = marked[(marked["implementation"] == e.implementation)
                           & (marked["known_defect"] == e.reason)]["case"].nunique()
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
            "its time": f"{duration(largest['median_s'])} ± {duration(largest['iqr_s'] / 2)}",
            "PyTorch's": f"{duration(largest['torch_median_s'])} ± {duration(largest['torch_iqr_s'] / 2)}",
        })
    return pd.DataFrame.from_records(records)


FD_NOTE = ("The finite-difference oracle measured against float64 autograd on smooth cases of the grid (up to "
           f"{ACCURACY_CASES}, spread over its networks): "
           "relative error of its estimates, next to the scheme's theoretical floor (every row in "
           "`fd_accuracy.csv`). `dtype` is the arithmetic the objective is evaluated in: float64 for every "
           "implementation that accepts float64 (float32 cases included), float32 for a float32-only one.")


def fd_accuracy_summary(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The finite-difference oracle's accuracy by dtype and mode, or None without one."""
    if table is None or table.empty:
        return None
    from conformance.oracles.fd_accuracy import accuracy_summary

    return accuracy_summary(table)


def duration(seconds: float) -> str:
    if seconds != seconds:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def findings(results: pd.DataFrame, limit: int = 4, not_applicable: NotApplicable = NotApplicable(),
             targets: Sequence[TargetResult] | None = None) -> list[tuple[str, str, list[str]]]:
    """For every implementation that is not a clean pass: (name, verdict label, lines)
    (``targets`` as for ``verdict_table``)."""
    out = []
    for result in target_results(results, not_applicable) if targets is None else targets:
        if result.verdict == "pass":
            continue
        lines = verdicts.problem_lines(result.rows, limit)
        if conventions := verdicts.convention_line(result):
            lines.insert(0, conventions)
        if answers := verdicts.two_questions(result):
            lines.insert(0, answers)
        lines[:0] = brief.cause_lines(result.rows, verdicts.CAUSES_IN)
        if result.cases_with("expected_fail"):
            reasons = Counter(r.known_defect for r in result.rows if r.verdict == "expected_fail")
            lines += [f"known defect: {reason}" for reason in sorted(reasons)]
        if result.verdict == "nothing ran":
            lines.append(f"no case of the grid applies to it: {NOT_APPLICABLE_IN}")
        out.append((result.name, LABELS[result.verdict], [brief.bounded(line) for line in lines]))
    return out


def not_applicable_table(results: pd.DataFrame, not_applicable: NotApplicable = NotApplicable()) -> pd.DataFrame:
    """Every reason a case did not apply, per implementation, with how many cases it excluded
    (all of them: the console shortens this list, the report does not)."""
    rows = results[(results["check"] == "case") & (results["verdict"] == "not_applicable")]
    counts = rows.groupby(["implementation", "detail"], sort=False)["case"].nunique().reset_index()
    counts = counts.rename(columns={"detail": "reason", "case": "cases"})
    summarised = pd.DataFrame([(e.implementation, e.reason, len(e.cases)) for e in not_applicable.entries],
                              columns=["implementation", "reason", "cases"])
    counts = pd.concat([counts, summarised], ignore_index=True) if len(summarised) else counts
    names = not_applicable.implementations(dict.fromkeys(results["implementation"]))
    ran = results.groupby("implementation", sort=False)["case"].unique()
    totals = {name: len(set(ran.get(name, ())) | not_applicable.cases(name)) for name in names}
    counts["of"] = counts["implementation"].map(totals)
    order = {name: i for i, name in enumerate(names)}
    return (counts.sort_values(["implementation", "cases"], key=lambda c: c.map(order) if c.name == "implementation"
                               else -c, kind="stable").reset_index(drop=True))


#: Where every reason a case did not apply is, from any page that says so (the console too).
NOT_APPLICABLE_IN = "not_applicable.csv gives every reason (and “Cases that do not apply” in summary.md)"
NA_NOTE = ("Every reason an implementation's adapter gave for a case it does not support, and how many cases "
           "of the grid (`of`) each one excluded; those cases are `not_applicable`, never passed.")


TIMING_NOTE = ("Forward and backward (for a loss case: the whole loss-and-gradients call) of each implementation "
               "and of PyTorch on the same cases, measured side by side in the same process: median of "
               "repeats after warm-up, spread ± half the interquartile range. `× PyTorch` above 1 is slower. "
               "Every measurement is in `timings.csv`.")

