"""Time budgets: every request a submission answers, supports() and loading included, draws on
its case's time and on a budget for the whole target (``--target-budget``); past it, the
target's remaining cases are ``error: time budget of N s spent``.

A submission whose supports() answers after 0.6 x --timeout on every case never times
out; graded in one folder next to an honest correct submission (alice) and an honest buggy
one (bob), it gets its budget and no more, and the honest rows equal a run without it. The
budget given here is many times what the honest submissions spend.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conformance.running.limits import Limits
from tests.test_attacks import rows_of, targets

HOSTILE = Path(__file__).parent / "faulty" / "hostile"
PRIVILEGE = Path(__file__).parent / "faulty" / "privilege"
HONEST = ("alice.py", "bob.py", "_honest.py")
#: slow_supports sleeps 3 s in supports(), 0.6 x this timeout.
TIMEOUT_S = 5.0
BUDGET_S = 15.0
ARGS = ("--widths", "3-4-2", "--activation", "tanh", "--batch", "4", "--dtype", "float64", "--no-timing", "--jobs", "1",
        "--timeout", f"{TIMEOUT_S:g}", "--target-budget", f"{BUDGET_S:g}")


def check(root: Path, folder: str, out: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())",
               "check", folder, "--out", out, *ARGS]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    for folder in ("base", "subs"):
        (root / folder).mkdir()
        for name in HONEST:
            shutil.copy(HOSTILE / name, root / folder / name)
    shutil.copy(PRIVILEGE / "slow_supports.py", root / "subs" / "slow_supports.py")
    baseline = check(root, "base", "base_report")
    run = check(root, "subs", "report")
    results = pd.read_csv(root / "report" / "results.csv", keep_default_na=False)
    return {"root": root, "run": run, "baseline": baseline,
            "targets": targets(root / "report"), "slow": results[results["implementation"] == "subs/slow_supports.py"]}


@pytest.mark.e2e
def test_the_honest_rows_are_the_same_as_without_the_slow_submission(graded):
    root = graded["root"]
    assert graded["baseline"].returncode == 1, graded["baseline"].stderr[-2000:]  # bob fails
    for name in ("alice", "bob"):
        pd.testing.assert_frame_equal(rows_of(root / "report", f"subs/{name}.py"),
                                      rows_of(root / "base_report", f"base/{name}.py"))


@pytest.mark.e2e
def test_a_slow_supports_spends_its_budget_and_its_remaining_cases_are_errors(graded):
    slow = graded["slow"]
    cases = slow["case"].unique()
    spent = slow[slow["detail"] == f"time budget of {BUDGET_S:g} s spent"]["case"].unique()
    assert graded["targets"]["subs/slow_supports.py"]["verdict"] == "error"
    assert 0 < len(spent) < len(cases)
    answered = len(cases) - len(spent)
    assert answered <= BUDGET_S / (0.6 * TIMEOUT_S) + 1  # each answered case cost 3 s of the budget


@pytest.mark.e2e
def test_the_slow_submission_costs_the_run_its_budget_not_its_grid(graded):
    cases = graded["slow"]["case"].nunique()
    assert cases * 0.6 * TIMEOUT_S > 2 * BUDGET_S  # without a budget it would hold the run this long
    # its own time, as the progress says it (the whole run's also holds the honest ones' on a
    # machine however loaded)
    said = re.search(r"^subs/slow_supports\.py: .+ — \d+ cases in ([\d.]+) s$", graded["run"].stderr, re.M)
    assert said, graded["run"].stderr[-2000:]
    assert float(said[1]) < cases * 0.6 * TIMEOUT_S


@pytest.mark.parametrize("timeout, cases", [
    pytest.param(20.0, 3106, id="the default timeout on the full grid"),
    pytest.param(2.0, 18, id="a short timeout on a few cases"),
])
def test_the_default_budget_grows_with_the_grid_and_leaves_room_for_loading(timeout, cases):
    limits = Limits(timeout_s=timeout)
    small, large = limits.for_cases(cases).target_budget_s, limits.for_cases(2 * cases).target_budget_s
    assert large > small > limits.load_s
    assert (large - small) / cases < 0.6 * timeout  # a supports() taking 0.6 x the timeout each case overruns it


def test_a_budget_given_is_kept_whatever_the_grid():
    assert Limits(target_budget_s=42.0).for_cases(3106).target_budget_s == 42.0


@pytest.mark.e2e
@pytest.mark.parametrize("value", [
    pytest.param("0", id="zero"), pytest.param("-3", id="negative"), pytest.param("soon", id="not a number"),
])
def test_a_bad_target_budget_is_a_one_line_usage_error(value, tmp_path):
    run = subprocess.run([sys.executable, "-m", "conformance", "check", "x.py", "--target-budget", value],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "--target-budget must be a" in run.stderr and "Traceback" not in run.stderr

