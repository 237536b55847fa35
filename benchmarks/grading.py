"""Grading throughput: a class of 100 notebook submissions graded on the full grid,
sandboxed, with ``conformance grade --jobs 1`` and ``--jobs 2``, and where the time goes.

    python -m benchmarks.grading            # both runs and the per-student phases; writes benchmarks/grading.md
    pytest benchmarks/test_grading_throughput.py --benchmark-only   # the same runs, as pytest-benchmark rows

The class is made from the worked example's notebooks
(``conformance/examples/assignment_004``), each student's copy told apart by a
cell of its own, in the proportions of ``CLASS``: mostly working or wrong
notebooks, a few that cannot be loaded and a few whose training loop hangs
(stopped after ``--timeout`` seconds, as a real class's would be).

Where the time goes is measured twice. For the whole run: the wall time, the CPU
time of every process, the time ``conformance grade`` spent running students
(``seconds_checking`` of ``environment.json``) and the rest (start-up of the
grading process, the grid, the finite-difference oracle's own accuracy, the
report and feedback files). For one student of each kind, in this process, each
phase of its run: its worker's start-up (the sandbox and the worker's imports,
measured with a module that only defines the API), the notebook's execution,
``supports`` over the grid (asked as the grader asks it, in requests of 400 cases), and the
checks of the cases that apply.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = ROOT / "conformance" / "examples" / "assignment_004" / "assignment.py"
RESULTS = Path(__file__).resolve().parent / "grading.md"

#: Students of each kind in a class of 100 (the example's notebook names).
CLASS = {"correct": 25, "seed": 20, "bias_mean": 15, "raises": 15, "pip_and_plot": 15, "renamed": 5, "hangs": 5}
#: Seconds per case and per notebook cell: a hanging cell costs this much.
TIMEOUT_S = 5
_TARGET_LINE = re.compile(r"^(?P<target>\S+): .* — \d+ cases in (?P<seconds>[\d.]+) s$")


def write_class(folder: Path, sizes: dict[str, int] = CLASS) -> list[Path]:
    """The class's notebooks in ``folder``, kinds interleaved as a class list would have them."""
    import nbformat

    from conformance.examples.assignment_004 import students

    kinds = [kind for kind, n in sizes.items() for _ in range(n)]
    kinds = [kinds[i] for i in sorted(range(len(kinds)), key=lambda i: (i % 7, i))]
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number, kind in enumerate(kinds):
        book = students.notebook(students.NOTEBOOKS[kind])
        book.cells.insert(0, nbformat.v4.new_code_cell(f"STUDENT = {number}  # handed in by student {number:03d}"))
        path = folder / f"student_{number:03d}.ipynb"
        nbformat.write(book, str(path))
        written.append(path)
    return written


@dataclass(frozen=True)
class GradingRun:
    """One ``conformance grade`` run over the class: times, load, and what it gave."""

    jobs: int
    wall_s: float
    cpu_s: float
    checking_s: float
    student_s: float  # the students' own run times, added up
    load_before: float
    load_after: float
    exit_code: int


def grade_class(folder: Path, jobs: int, out: Path) -> GradingRun:
    """Grade every notebook in ``folder`` with ``--jobs``, into ``out``."""
    command = [sys.executable, "-m", "conformance", "grade", str(ASSIGNMENT), str(folder), "--jobs", str(jobs),
               "--timeout", str(TIMEOUT_S), "--out", str(out)]
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1, 2) or not (out / "targets.csv").is_file():
        raise RuntimeError(f"grading failed ({done.returncode}): {done.stderr[-2000:]}")
    environment = json.loads((out / "environment.json").read_text())
    seconds = [float(m["seconds"]) for line in done.stderr.splitlines() if (m := _TARGET_LINE.match(line))]
    return GradingRun(jobs, wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                      float(environment["seconds_checking"]), sum(seconds), load_before, os.getloadavg()[0],
                      done.returncode)


def grades(out: Path):
    """The class table without its timing: what must not depend on ``--jobs``."""
    import pandas as pd

    return pd.read_csv(out / "targets.csv").drop(columns=["seconds"], errors="ignore")


@dataclass(frozen=True)
class Phases:
    """One student's run, phase by phase (seconds, in this process's clock)."""

    kind: str
    startup_s: float
    notebook_s: float
    supports_s: float
    checks_s: float
    cases_run: int


def _api_only(folder: Path) -> Path:
    """A module that defines the assignment's API and nothing else: loading it costs the start-up alone."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "api_only.py"
    path.write_text("".join(f"class {name}:\n    pass\n" for name in
                            ("NeuralNetwork", "FullyConnectedLayer", "Sigmoid", "MeanSquaredError")))
    return path


def _loaded_in(target) -> tuple[object, float]:
    from conformance.running.isolation import driver_for
    from conformance.running.limits import Limits

    started = time.perf_counter()
    driver = driver_for(target, True, Limits(timeout_s=TIMEOUT_S))
    driver.describe()
    return driver, time.perf_counter() - started


def student_phases(folder: Path, kinds=("correct", "seed", "pip_and_plot")) -> list[Phases]:
    """Each phase of one student's run, for a student of each kind."""
    from conformance.examples.assignment_004 import students
    from conformance.grading.assignment import read_settings
    from conformance.running.targets import submissions
    from conformance.runner import Checks, expect, oracle, run_case
    from conformance.cases.grid import default_grid

    settings, cases = read_settings(ASSIGNMENT), default_grid(seed=0)
    [bare] = submissions(ASSIGNMENT, [str(_api_only(folder))], settings.api, False)
    startups = []
    for _ in range(3):
        driver, seconds = _loaded_in(bare)
        driver.close()
        startups.append(seconds)
    startup = sorted(startups)[1]
    out = []
    # The first student measured pays for this process's first checks (lazy imports, caches): a
    # warm-up, as the grading process has had one by its second student.
    for kind, path in zip(("warm-up",) + tuple(kinds), students.write(folder / "kinds", [kinds[0], *kinds])):
        [target] = submissions(ASSIGNMENT, [str(path)], settings.api, False)
        driver, loading = _loaded_in(target)
        started = time.perf_counter()
        expect(driver, cases)  # as the grader asks: the whole grid in a few requests
        applicable = [case for case in cases if not driver.supports(case)]
        supports = time.perf_counter() - started
        for case in applicable:  # the oracle is computed once per run, not per student
            oracle(case)
        started = time.perf_counter()
        for case in applicable:
            run_case(driver, case, (), Checks())
        checks = time.perf_counter() - started
        driver.close()
        out.append(Phases(kind, startup, max(0.0, loading - startup), supports, checks, len(applicable)))
    return out[1:]


def markdown(runs: list[GradingRun], phases: list[Phases], same_grades: bool, students: int) -> str:
    """The figures as ``benchmarks/grading.md``."""
    by_jobs = {run.jobs: run for run in runs}
    lines = [
        "# Grading throughput",
        "",
        f"Generated by `python -m benchmarks.grading` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores, load averages in the table. `conformance grade` over {students} notebook "
        f"submissions made from the worked example ({', '.join(f'{n} {k}' for k, n in CLASS.items())}), "
        f"full grid, sandboxed (bubblewrap), `--timeout {TIMEOUT_S}`. Targets: under 180 s with `--jobs 2`; "
        "`--jobs 2` at least 1.8× faster than `--jobs 1`.",
        "",
        "| jobs | wall | CPU (all processes) | running students | students' own times, added up | rest of the run "
        "| load average before → after | exit code |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(f"| {run.jobs} | {run.wall_s:.1f} s | {run.cpu_s:.1f} s | {run.checking_s:.1f} s | "
                     f"{run.student_s:.1f} s | {run.wall_s - run.checking_s:.1f} s | "
                     f"{run.load_before:.2f} → {run.load_after:.2f} | {run.exit_code} |")
    if 1 in by_jobs and 2 in by_jobs:
        speedup = by_jobs[1].wall_s / by_jobs[2].wall_s
        lines += ["", f"Speed-up with 2 jobs: {speedup:.2f}× (wall time); the same grades both ways: "
                      f"{'yes' if same_grades else 'NO'}."]
    lines += [
        "",
        "## One student, phase by phase",
        "",
        "Measured in the benchmark's own process, one student of each kind, on the full grid (the PyTorch "
        "oracle, computed once per run for the whole class, left out).",
        "",
        "| student | worker start-up | notebook execution | `supports` over the grid | checks | cases run |",
        "|---|---|---|---|---|---|",
    ]
    for p in phases:
        lines.append(f"| {p.kind} | {p.startup_s:.2f} s | {p.notebook_s:.2f} s | {p.supports_s:.2f} s | "
                     f"{p.checks_s:.2f} s | {p.cases_run} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder = scratch / "class"
        students = len(write_class(folder))
        runs = [grade_class(folder, jobs, scratch / f"jobs{jobs}") for jobs in (1, 2)]
        same = grades(scratch / "jobs1").equals(grades(scratch / "jobs2"))
        phases = student_phases(scratch)
    text = markdown(runs, phases, same, students)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    print(json.dumps([asdict(r) for r in runs] + [asdict(p) for p in phases]), file=sys.stderr)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
