"""The targets the benchmarks are held to (issue: speed a user waits for), each measured value,
whether it is met, and when it is not, why: a 10^6-parameter check against gradcheck's fast mode
and the floor, its growth and memory, the harness's time per case, and the speed-ups of
``conformance run --jobs 2``, ``pytest -n 2`` and a class graded on two processes.
"""

from __future__ import annotations

import pandas as pd

#: The grading target, and its bound in seconds.
GRADED, GRADED_S = "100 notebooks graded with `--jobs 2` in < 180 s", 180.0

#: The targets of a 10^6-parameter check, and why each is missed when it is.
WHY_MISSED = {
    "end to end ≤ gradcheck fast end to end": (
        "besides its 13 forward evaluations (gradcheck: 14) the check generates the case, runs the "
        "implementation's forward+backward five times for the contract (two runs agree, a model called again "
        "answers as a fresh one), copies the data for every call, and checks every dense stencil against the "
        "ReLU kinks with a forward of its own"),
    "steady state ≤ 6 × floor": "the same five contract runs, data copies and kink checks",
    "growth linear in parameters (slope ≤ 1.1 from 1e5 to 1e6)": "",
    "harness time < 2 ms per case of the default grid (in-process)": (
        "a case of a few dozen parameters costs about 10 ms of the suite's own Python: its data and the PyTorch "
        "oracle, about 45 finite-difference evaluations (each rebuilding the model from the probed vector), the "
        "five contract runs and their bit-for-bit comparisons, copies and result rows; no one part dominates "
        "(a profile of the 10^3 case is flat)"),
    "peak memory ≤ 4 × parameters and activations": (
        "the case's data, its flat vector, one copy per implementation call, the two runs' gradients, "
        "PyTorch's copy and gradients, the directions and the rounding magnitudes are alive at once"),
    "`conformance run --jobs 2` ≥ 1.8 × as fast as `--jobs 1`": (
        "the checking phase alone is 1.8× as fast (121 s → 67 s, measured apart); the timing phase (20 s of "
        "budget) stays serial — two implementations timed at once on this machine measured both them and "
        "PyTorch 1.6–1.7× slower — and loading the targets and writing the report (8 s) are one process's work"),
    "`pytest -n 2` ≥ 1.8 × as fast as `pytest`": (
        "each of the two processes imports PyTorch, collects every test and makes the session's shared runs "
        "(the checked folder, the smoke audit) again: about 11 s more CPU in all (see the CPU column)"),
    GRADED: (
        "see benchmarks/grading.md: each student costs a sandboxed worker's start, its notebook, the grid's "
        "`supports` and its checks (most of it: 2.4–4.1 s for 148 cases in its run of 2026-12-07), on two cores"),
}

#: The speed-up targets read from the parallel rows: (method, least speed-up of 2 processes over 1).
RUN_TARGETS = {
    "`conformance run --jobs 2` ≥ 1.8 × as fast as `--jobs 1`": ("conformance_run", 1.8),
    "`pytest -n 2` ≥ 1.8 × as fast as `pytest`": ("pytest", 1.8),
}


def targets(results: pd.DataFrame, slopes: pd.DataFrame, rest: pd.DataFrame) -> str:
    """Each target, its measured value at 10^6 parameters (tanh / relu), met or by how much missed."""
    big = results[results["size"] == "1e6"]
    def value(method, column):
        return {a: float(g[g["method"] == method][column].iloc[0])
                for a, g in big.groupby("activation") if method in set(g["method"])}

    suite, torch_ = value("check_end_to_end", "median_s"), value("gradcheck_fast_end_to_end", "median_s")
    steady = value("check", "x_floor")
    slope = {r["activation"]: r["slope"] for _, r in slopes[slopes["sizes"] == "1e5 → 1e6"].iterrows()}
    overhead = rest[(rest["method"] == "harness_overhead") & (rest["size"] == "default") & rest["isolated"].eq(False)]
    memory = {r["activation"]: r["ratio_median"] for _, r in rest[rest["method"] == "memory"].iterrows()}
    measured = {
        "end to end ≤ gradcheck fast end to end": ({a: suite[a] / torch_[a] for a in suite if a in torch_}, 1.0, "×"),
        "steady state ≤ 6 × floor": (steady, 6.0, "× floor"),
        "growth linear in parameters (slope ≤ 1.1 from 1e5 to 1e6)": (slope, 1.1, ""),
        "harness time < 2 ms per case of the default grid (in-process)": (
            {"all": float(overhead["overhead_per_case_s"].iloc[0]) * 1e3} if len(overhead) else {}, 2.0, "ms"),
        "peak memory ≤ 4 × parameters and activations": (memory, 4.0, "×"),
    }
    lines = ["## Targets (the check at 10^6 parameters; the harness's time on the default grid; runs and grading)", "",
             "| target | measured (tanh / relu) | met? | why not |", "|---|---|---|---|"]
    for name, (found, limit, unit) in measured.items():
        if not found:
            continue
        shown = " / ".join(f"{found[a]:.3g}{unit and ' ' + unit}" for a in ("tanh", "relu", "all") if a in found)
        worst = max(found.values())
        lines.append(_row(name, shown, worst <= limit, f"no: {worst / limit:.2g}× the target"))
    return "\n".join(lines + run_targets(rest)) + "\n"


def run_targets(rest: pd.DataFrame) -> list[str]:
    """The speed-up targets of the parallel rows and the grading target, as rows of the targets table."""
    lines = []
    for name, (method, least) in RUN_TARGETS.items():
        runs = rest[rest["method"] == method].sort_values("jobs")
        if len(runs) == 2:
            speed_up = runs.iloc[0]["median_s"] / runs.iloc[1]["median_s"]
            lines.append(_row(name, f"{speed_up:.2f} ×", speed_up >= least))
    graded = rest[(rest["method"] == "conformance_grade") & (rest["jobs"] == 2)]
    if len(graded):
        seconds = float(graded.iloc[0]["median_s"])
        earlier = " (an earlier run's)" if bool(graded.iloc[0]["earlier"]) else ""
        lines.append(_row(GRADED, f"{seconds:.0f} s{earlier}", seconds < GRADED_S))
    return lines


def _row(name: str, shown: str, met: bool, missed: str = "no") -> str:
    """One target's row: what was measured, met or not, and why not."""
    return f"| {name} | {shown} | {'yes' if met else missed} | {'' if met else WHY_MISSED[name]} |"
