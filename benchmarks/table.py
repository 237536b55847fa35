"""Run the benchmarks and write their tables: ``benchmarks/results.csv`` (one row per
network and gradient-check method), ``benchmarks/other.csv`` (harness overhead,
parallel speed-up, memory) and ``benchmarks/results.md`` (all of it, with medians,
spread and ratios against the floor).

    python -m benchmarks.table                 # runs pytest-benchmark, then writes the table
    python -m benchmarks.table --from run.json # the table of an earlier run's JSON
    python -m benchmarks.table --earlier old.json -k "not parallel"
                                               # rows this run leaves out taken from old.json, said so

pytest runs in a child process with NumPy's BLAS and PyTorch on one thread
each (so both sides get the same single core of this 2-core machine, and
the figures compare code, not thread pools).

The floor is one forward + backward of the implementation plus one of
PyTorch: the least any check against PyTorch has to spend. A per-entry
method timed on samples of ``n`` and ``2n`` entries is extrapolated to all
``N`` entries as ``t(n) + (N - n) * (t(2n) - t(n)) / n``.

Longer than 300 lines: every table of the file is written here from the one run's rows
(``benchmarks.targets`` holds the targets and why each is missed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.targets import targets

HERE = Path(__file__).resolve().parent
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
METHODS = ("floor_implementation", "floor_pytorch", "floor", "check_end_to_end", "check_end_to_end_isolated",
           "gradcheck_fast_end_to_end", "check", "check_isolated", "gradcheck_fast", "gradcheck_slow",
           "classic_loop", "generation")
LABELS = {
    "floor": "floor: impl + PyTorch fwd+bwd",
    "floor_implementation": "impl fwd+bwd",
    "floor_pytorch": "PyTorch fwd+bwd",
    "check_end_to_end": "**end to end**: suite check, case generated (in-process)",
    "check_end_to_end_isolated": "**end to end**: suite check, case generated (worker process)",
    "gradcheck_fast_end_to_end": "**end to end**: gradcheck fast_mode=True, tensors built",
    "check": "steady state: suite check, case generated beforehand (in-process)",
    "check_isolated": "steady state: suite check, case generated beforehand (worker process)",
    "gradcheck_fast": "steady state: gradcheck fast_mode=True, tensors built beforehand",
    "gradcheck_slow": "gradcheck fast_mode=False (whole runs end to end; samples steady state)",
    "classic_loop": "classic per-entry loop",
    "generation": "case generation",
}


def run_benchmarks(json_path: Path, extra: list[str]) -> None:
    """Run pytest-benchmark into ``json_path``, and the machine's load average before and
    after into ``load_path(json_path)``."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(HERE),
               "--benchmark-only", f"--benchmark-json={json_path}", "--benchmark-columns=median,iqr,rounds", *extra]
    before = os.getloadavg()
    subprocess.run(command, env=os.environ | ONE_THREAD, check=True)
    load_path(json_path).write_text(json.dumps(dict(before=before, after=os.getloadavg(), cores=os.cpu_count(),
                                                    selection=" ".join(extra))))


def load_path(json_path: Path) -> Path:
    """Where a run's load averages are kept, next to its JSON."""
    return json_path.with_name(json_path.stem + "_load.json")


def load_line(json_path: Path) -> str:
    """The load averages (1, 5, 15 min) before and after the run, when recorded."""
    if not load_path(json_path).exists():
        return ""
    load = json.loads(load_path(json_path).read_text())
    def show(triple):
        return " / ".join(f"{v:.1f}" for v in triple)
    chosen = f" Benchmarks selected with `{load['selection']}`." if load.get("selection") else ""
    return (f"Load average (1 / 5 / 15 min) on the {load['cores']} cores: {show(load['before'])} before the run, "
            f"{show(load['after'])} after it.{chosen}\n\n")


def measured(json_path: Path, earlier: Path | None = None) -> pd.DataFrame:
    """One row per benchmark: its extra information, median and quartiles (``sample`` 0: a whole run).
    With ``earlier``, the methods (per network) this run did not measure are taken from that run, marked
    ``earlier`` (True)."""
    rows = _rows(json_path)
    if earlier is not None:
        def key(row):
            return (row.get("method"), row.get("size"), row.get("activation"))
        done = {key(row) for row in rows}
        # a benchmark stopped before it said what it measured (no method) says nothing
        rows += [row | {"earlier": True} for row in _rows(earlier) if "method" in row and key(row) not in done]
    return pd.DataFrame(rows).assign(earlier=lambda t: t.get("earlier", False)).fillna({"earlier": False})


def _rows(json_path: Path) -> list[dict]:
    runs = json.loads(json_path.read_text())
    return [{"sample": 0} | b["extra_info"] | dict(median_s=b["stats"]["median"], q1_s=b["stats"]["q1"],
                                                   q3_s=b["stats"]["q3"], rounds=b["stats"]["rounds"])
            for b in runs["benchmarks"]]


def _extrapolated(samples: pd.DataFrame, total: int) -> dict:
    small, large = samples.sort_values("sample").iloc[0], samples.sort_values("sample").iloc[-1]
    n = int(small["sample"])
    per_entry = (large["median_s"] - small["median_s"]) / (large["sample"] - n)
    def estimate(t):
        return t + (total - n) * per_entry
    return dict(median_s=estimate(small["median_s"]), q1_s=estimate(small["q1_s"]), q3_s=estimate(small["q3_s"]),
                rounds=int(small["rounds"]),
                how=f"extrapolated from samples of {n} and {int(large['sample'])} entries "
                    f"({per_entry * 1e3:.3g} ms per entry)")


def table(raw: pd.DataFrame) -> pd.DataFrame:
    """Per network and method: the time (measured, or extrapolated from samples), and its
    ratios to the floor and to the implementation's own forward + backward."""
    out = []
    raw = raw[raw["method"].isin(METHODS)]
    for (size, activation), group in raw.groupby(["size", "activation"], sort=False):
        params, flat = int(group["params"].iloc[0]), int(group["flat"].iloc[0])
        times = {}
        for method, rows in group.groupby("method", sort=False):
            whole = rows[rows["sample"] == 0]
            if len(whole):
                r = whole.iloc[0]
                times[method] = dict(median_s=r["median_s"], q1_s=r["q1_s"], q3_s=r["q3_s"], rounds=int(r["rounds"]),
                                     how="measured")
            else:
                times[method] = _extrapolated(rows, flat)
            if rows["earlier"].astype(bool).any():
                times[method]["how"] += " in an earlier run"
        impl, torch_ = times["floor_implementation"], times["floor_pytorch"]
        times["floor"] = {key: impl[key] + torch_[key] for key in ("median_s", "q1_s", "q3_s")} | dict(
            rounds=impl["rounds"], how="sum of the two medians")
        for method in METHODS:
            if method in times:
                t = times[method]
                out.append(dict(size=size, activation=activation, params=params, flat_entries=flat, method=method,
                                median_s=t["median_s"], q1_s=t["q1_s"], q3_s=t["q3_s"], rounds=t["rounds"],
                                x_floor=t["median_s"] / times["floor"]["median_s"],
                                x_implementation=t["median_s"] / impl["median_s"], how=t["how"]))
    return pd.DataFrame(out)


def growth(results: pd.DataFrame, method: str = "check_end_to_end") -> pd.DataFrame:
    """Slope of log(time) against log(parameters) between neighbouring sizes (1: linear)."""
    rows = []
    for activation, group in results[results["method"] == method].groupby("activation", sort=False):
        group = group.sort_values("params")
        p, t = group["params"].to_numpy(float), group["median_s"].to_numpy(float)
        for i in range(1, len(group)):
            rows.append(dict(activation=activation, sizes=f"{group['size'].iloc[i - 1]} → {group['size'].iloc[i]}",
                             slope=float(np.log(t[i] / t[i - 1]) / np.log(p[i] / p[i - 1]))))
    return pd.DataFrame(rows)


def headline(results: pd.DataFrame) -> list[str]:
    """The end-to-end comparison at every size: the suite's check against gradcheck's fast mode,
    and the steady-state check against the floor."""
    def pick(group, method):
        return group[group["method"] == method].iloc[0]

    lines = ["## End to end: the suite's check against gradcheck(fast_mode=True)", "",
             "| size | activation | suite check, end to end | gradcheck fast, end to end | suite ÷ gradcheck | "
             "steady-state suite check × floor | gradcheck fast × floor |", "|---|---|---|---|---|---|---|"]
    for (size, activation), group in results.groupby(["size", "activation"], sort=False):
        if not {"check_end_to_end", "gradcheck_fast_end_to_end", "check"} <= set(group["method"]):
            continue
        suite, torch_, steady = (pick(group, m) for m in ("check_end_to_end", "gradcheck_fast_end_to_end", "check"))
        lines.append(f"| {size} | {activation} | {_seconds(suite['median_s'])} | {_seconds(torch_['median_s'])} | "
                     f"{suite['median_s'] / torch_['median_s']:.2f} | {steady['x_floor']:.3g} | "
                     f"{pick(group, 'gradcheck_fast')['x_floor']:.3g} |")
    return lines + [""]


def _seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s" if s < 600 else f"{s / 60:.3g} min"


def markdown(results: pd.DataFrame) -> str:
    lines = ["# Gradient checks on float64 MLPs (width → width → width → 10, batch 32)", "",
             "Generated by `python -m benchmarks.table` (pytest-benchmark, one run, every method side by side; "
             "NumPy BLAS and PyTorch on one thread each, on a shared 2-core machine). "
             "Time: median over the rounds, [first quartile, third quartile] in brackets. "
             "`× floor`: against one forward+backward of the implementation plus one of PyTorch; "
             "`× impl`: against the implementation's own forward+backward. "
             "**End to end** is what a user waits for: the suite's check is `conformance.runner.run_case` on "
             "`reference_numpy` from the case alone (its data generated, the PyTorch oracle, finite differences, "
             "comparison, contract re-run); gradcheck builds its PyTorch tensors from the same arrays, then checks. "
             "*Steady state* rows leave out the generation (suite) and the tensors (gradcheck); case generation "
             "is also timed on its own row.", ""] + headline(results)
    for size, group in results.groupby("size", sort=False):
        first = group.iloc[0]
        lines += [f"## {size}: {first['params']:,} weights and biases "
                  f"({first['flat_entries']:,} entries with the input)",
                  "", "| method | activation | time | × floor | × impl | how |", "|---|---|---|---|---|---|"]
        for _, r in group.sort_values(["method", "activation"], key=lambda c: c.map(
                {m: i for i, m in enumerate(METHODS)}) if c.name == "method" else c).iterrows():
            spread = f"{_seconds(r['median_s'])} [{_seconds(r['q1_s'])}, {_seconds(r['q3_s'])}]"
            lines.append(f"| {LABELS[r['method']]} | {r['activation']} | {spread} | {r['x_floor']:.3g} | "
                         f"{r['x_implementation']:.3g} | {r['how']}, {r['rounds']} rounds |")
        lines.append("")
    slopes = growth(results)
    lines += ["## Growth of the suite's check, end to end", "",
              "Slope of log(time) against log(parameters) between neighbouring sizes (1 is linear, 2 quadratic):", "",
              "| activation | sizes | slope |", "|---|---|---|"]
    lines += [f"| {r['activation']} | {r['sizes']} | {r['slope']:.2f} |" for _, r in slopes.iterrows()]
    return "\n".join(lines) + "\n"


def extrapolation_check(raw: pd.DataFrame) -> pd.DataFrame:
    """Where a per-entry method ran both on samples and whole: the extrapolation against the
    measured whole run (how far to trust the extrapolated rows)."""
    rows = []
    for (method, size, activation), group in raw[raw["method"].isin(METHODS)].groupby(
            ["method", "size", "activation"], sort=False):
        whole, samples = group[group["sample"] == 0], group[group["sample"] > 0]
        if len(whole) and len(samples) >= 2:
            estimate = _extrapolated(samples, int(group["flat"].iloc[0]))["median_s"]
            rows.append(dict(method=method, size=size, activation=activation, extrapolated_s=estimate,
                             measured_s=float(whole["median_s"].iloc[0]),
                             ratio=estimate / float(whole["median_s"].iloc[0])))
    return pd.DataFrame(rows)


def extrapolation_markdown(check: pd.DataFrame) -> str:
    if check.empty:
        return ""
    lines = ["## How far the extrapolations hold", "",
             "Where a per-entry method also ran whole, its extrapolation from the samples against that run:", "",
             "| method | size | activation | extrapolated | measured | extrapolated ÷ measured |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {LABELS[r['method']]} | {r['size']} | {r['activation']} | {_seconds(r['extrapolated_s'])} | "
              f"{_seconds(r['measured_s'])} | {r['ratio']:.2f} |" for _, r in check.iterrows()]
    return "\n".join(lines) + "\n"


def other(raw: pd.DataFrame) -> pd.DataFrame:
    """The harness's overhead per case, the parallel runs and the memory peaks, one row each."""
    keep = ["method", "earlier", "size", "activation", "isolated", "median_s", "q1_s", "q3_s", "rounds", "cases",
            "per_case_s", "implementation_per_case_s", "overhead_per_case_s", "jobs", "cpu_s", "load_before", "cores",
            "summary", "params", "network_bytes", "peak_increase_bytes", "ratio_median"]
    rows = raw[~raw["method"].isin(METHODS)]
    return rows.reindex(columns=keep).reset_index(drop=True)


def other_markdown(rows: pd.DataFrame) -> str:
    lines = []
    overhead = rows[rows["method"] == "harness_overhead"]
    if len(overhead):
        lines += ["## The harness's own time per case", "",
                  "A serial, in-process run of the grid on `reference_numpy`, data and oracle computed afresh; "
                  "the implementation's own time is what its adapter methods took. Medians of the rounds.", "",
                  "| grid | implementation runs | cases | per case | implementation's own | harness's own | "
                  "run [quartiles] |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['size']} | {'in a worker process' if r['isolated'] else 'in-process'} | "
                  f"{int(r['cases'])} | {_seconds(r['per_case_s'])} | "
                  f"{_seconds(r['implementation_per_case_s'])} | {_seconds(r['overhead_per_case_s'])} | "
                  f"{_seconds(r['median_s'])} [{_seconds(r['q1_s'])}, {_seconds(r['q3_s'])}], "
                  f"{int(r['rounds'])} rounds |"
                  for _, r in overhead.iterrows()]
        lines.append("")
    for method, title in (("conformance_run", "`conformance run` (default grid, every built-in, report written)"),
                          ("pytest", "`pytest` (the project's tests)")):
        runs = rows[rows["method"] == method].sort_values("jobs")
        if len(runs) == 2:
            serial, parallel = runs.iloc[0], runs.iloc[1]
            when = " — from an earlier run, not measured again in this one" if bool(serial["earlier"]) else ""
            lines += [f"## Parallel: {title}{when}", "",
                      "| processes | wall time [quartiles] | CPU time of its processes | load average before |",
                      "|---|---|---|---|"]
            lines += [f"| {int(r['jobs'])} | {_seconds(r['median_s'])} [{_seconds(r['q1_s'])}, "
                      f"{_seconds(r['q3_s'])}], {int(r['rounds'])} rounds | {_seconds(r['cpu_s'])} | "
                      f"{r['load_before']:.1f} on {int(r['cores'])} cores |" for _, r in runs.iterrows()]
            lines += ["", f"Speed-up with 2: {serial['median_s'] / parallel['median_s']:.2f}× (ratio of medians).", ""]
    memory = rows[rows["method"] == "memory"]
    if len(memory):
        lines += ["## Memory of a 10^6-parameter check", "",
                  "Peak resident set above the process's size before the case's data existed (see "
                  "`benchmarks/memory.py`), against the network's parameters plus its activations at batch 32.", "",
                  "| activation | network | peak increase (each round) | × network (median) |", "|---|---|---|---|"]
        lines += [f"| {r['activation']} | {r['network_bytes'] / 2**20:.1f} MiB | "
                  f"{', '.join(f'{b / 2**20:.0f}' for b in r['peak_increase_bytes'])} MiB | {r['ratio_median']:.1f} |"
                  for _, r in memory.iterrows()]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="an earlier run's pytest-benchmark JSON")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for results.csv and results.md")
    parser.add_argument("--earlier", type=Path,
                        help="an earlier run's JSON to take the methods this run leaves out from")
    args, extra = parser.parse_known_args(argv)
    source = args.source or args.out / "benchmark.json"
    if args.source is None:
        run_benchmarks(source, extra)
    raw = measured(source, args.earlier)
    results, rest = table(raw), other(raw)
    results.to_csv(args.out / "results.csv", index=False)
    rest.to_csv(args.out / "other.csv", index=False)
    title, body = markdown(results).split("\n", 1)
    (args.out / "results.md").write_text(title + "\n\n" + load_line(source) + body.lstrip("\n") + "\n"
                                         + extrapolation_markdown(extrapolation_check(raw))
                                         + "\n" + other_markdown(rest) + "\n" + targets(results, growth(results), rest))
    print(f"wrote {args.out / 'results.csv'} and {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
