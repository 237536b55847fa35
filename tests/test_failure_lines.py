"""What a person reads about a failing target on the console and in summary.md: one line per
kind of problem, under ``brief.LINE_LIMIT`` characters, and the diagnosis said once per cause
(the full text stays in results.csv)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from conformance.cases.grid import default_grid
from conformance.check import check_target
from conformance.judge.results import COLUMNS
from conformance.reporting import brief
from conformance.reporting.tables import findings
from conformance.reporting.verdicts import Problem, render_target
from conformance.running.targets import Target
from tests.faulty.state import NoisyFromSecondCall
from tests.faulty.wrong_gradients import TwoCauses
from conformance.cases.spec import NetworkSpec
from tests.helpers import PINNED

CAUSES = ("weight[0] ×2", "input ×2")


@pytest.fixture(scope="module")
def two_causes():
    cases = [c for c in PINNED if isinstance(c.spec, NetworkSpec)]
    return check_target(Target("two_causes", TwoCauses, "tests.faulty.wrong_gradients"), cases, isolate=False)


def failure_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if re.match(r"\w+ (FAIL|error) in \d+ cases?, e\.g\. ", line)]


def test_a_target_of_two_causes_fails_with_both_named(two_causes):
    assert two_causes.verdict == "fail"
    diagnosed = {r.diagnosis for r in two_causes.rows if r.verdict == "fail" and r.diagnosis}
    assert all(any(cause in d for d in diagnosed) for cause in CAUSES), diagnosed


@pytest.mark.parametrize("where", [
    pytest.param("console", id="on the console"),
    pytest.param("summary", id="in summary.md's lines"),
])
def test_each_failure_line_is_short_and_each_cause_is_said_once(two_causes, where):
    if where == "console":
        lines = [line.strip() for line in render_target(two_causes).splitlines()]
    else:
        table = pd.DataFrame([r.as_dict() for r in two_causes.rows], columns=list(COLUMNS))
        ((_, _, lines),) = findings(table)
    failing = failure_lines(lines)
    assert failing and all(len(line) <= brief.LINE_LIMIT for line in failing), max(failing, key=len)
    assert not any("diagnosis" in line for line in failing), failing
    for cause in CAUSES:
        naming = [line for line in lines if cause in line]
        assert len(naming) == 1 and naming[0].startswith("diagnosis, "), (cause, lines)
    cases = {cause: len({r.case for r in two_causes.rows if r.verdict == "fail" and cause in r.diagnosis})
             for cause in CAUSES}
    for cause, count in cases.items():
        assert any(f"in {count} case" in line and cause in line for line in lines), (cause, count, lines)


def test_the_full_text_stays_in_the_rows(two_causes):
    worst = Problem("gradient", "input", 1, next(r for r in two_causes.rows if r.verdict == "fail"))
    assert "mismatched elements" in worst.worst.detail and "mismatched elements" not in worst.line()
    assert worst.worst.diagnosis and worst.worst.diagnosis not in worst.line()


@pytest.fixture(scope="module")
def longest_case() -> str:
    return max((c.id for c in default_grid()), key=len)


@pytest.mark.parametrize("detail", [
    pytest.param("blocks[1].attention.in_proj_weight[23, 7]: got -1.2431492e-05, PyTorch -0.24862981 "
                 "(|error| 0.249 exceeds tolerance 0.0001; rtol=0.0002 (of |expected| and of max|expected|), "
                 "floor=1e-06); mismatched elements: 20 / 20 (100.0%)", id="a long tensor name and a long case id"),
    pytest.param("raised ValueError: " + "operands could not be broadcast together " * 10,
                 id="an error's long message"),
])
def test_a_line_keeps_its_bound_and_the_error_and_tolerance_whole(detail, longest_case):
    line = brief.failure_line("gradient FAIL in 12 cases, e.g. ", longest_case, detail)
    assert len(line) <= brief.LINE_LIMIT, line
    if "|error|" in detail:
        assert line.endswith("(|error| 0.249 exceeds tolerance 0.0001)"), line
        assert "in_proj_weight[23, 7]" in line and "-1.2431492e-05" in line, line
    assert longest_case[:20] in line and longest_case[-20:] in line, line


@pytest.mark.parametrize("diagnosis, cause, place", [
    pytest.param("weight[0] ×2 (only this) (the error enters at layer 0 (dense+relu); wrong: weight[0])",
                 "weight[0] ×2 (only this)", "the error enters at layer 0 (dense+relu); wrong: weight[0]",
                 id="a named bug and where it shows"),
    pytest.param("diagnosis failed: suite error, please report", "diagnosis failed: suite error, please report", "",
                 id="a text with no place"),
])
def test_a_diagnosis_splits_into_its_cause_and_its_place(diagnosis, cause, place):
    assert brief.cause_and_place(diagnosis) == (cause, place)


@pytest.mark.parametrize("one, other", [
    pytest.param("bias[0], bias[1] ×0.25 = 1/batch (only these)", "bias[0] ×0.25 = 1/batch (only this)",
                 id="one bug in networks of two depths"),
    pytest.param("bias[0] not summed over the batch: shape (4, 4) where (4,) is due",
                 "bias[0] not summed over the batch: shape (4, 5) where (5,) is due", id="one bug at two widths"),
    pytest.param("output is returned as int64 where float64 is due", "output is returned as int64 where float32 is due",
                 id="one bug in both dtypes"),
])
def test_one_bug_in_other_cases_is_the_same_cause(one, other):
    assert brief.same_cause(one) == brief.same_cause(other)


def test_two_bugs_are_two_causes():
    assert brief.same_cause("weight[0] ×2 (only this)") != brief.same_cause("input ×2 (only this)")
    assert brief.same_cause("bias[0] ×2 (only this)") != brief.same_cause("bias[0] ×0.5 (only this)")


def test_a_case_whose_data_cannot_tell_two_bugs_apart_shares_the_cause_named_first():
    alone = "the loss gradient misses the mean's 1/outputs (it is ×5 = outputs) (the error enters at layer 1)"
    undecided = ("the loss gradient misses the mean's 1/outputs (it is ×2 = outputs) — or, as this case's data "
                 "cannot tell them apart, the loss gradient is ×2 (the error enters at layer 2)")
    assert brief.same_cause(brief.without_location(alone)) == brief.same_cause(brief.without_location(undecided))


@pytest.fixture(scope="module")
def run_console() -> list[str]:
    """What ``conformance run`` prints after its table for targets that fail (a broken contract rule
    among them), as ``cli.suite.print_outcome`` prints it."""
    import io

    from conformance.api import Options, run_suite
    from conformance.cli.suite import print_outcome

    cases = [c for c in PINNED if isinstance(c.spec, NetworkSpec)]
    targets = [Target("two_causes", TwoCauses, "tests.faulty.wrong_gradients"),
               Target("noisy", NoisyFromSecondCall, "tests.faulty.state")]
    report = run_suite(targets, cases=cases, options=Options(isolate=False, timing=False))
    printed = io.StringIO()
    print_outcome(report, printed)
    return printed.getvalue().split("\n\n", 1)[1].splitlines()


def test_every_line_run_prints_about_a_failing_target_is_short(run_console):
    said = [line.strip() for line in run_console if line.startswith("  ")]
    assert failure_lines(said) and any(line.startswith("diagnosis, ") for line in said), run_console
    assert all(len(line) <= brief.LINE_LIMIT for line in said), max(said, key=len)


CONTRACT = ("weight[0]: non-deterministic, two runs of the same case differ beyond rounding: weight[0][0, 1]: "
            "-0.068069084940193633 then -0.068068973856637169 (|difference| 1.11e-07 exceeds tolerance 2.12e-16 "
            "in float64, 2·eps·n·Σ|terms|, the rounding of another summation order)")


@pytest.mark.parametrize("detail, start, reason", [
    pytest.param(CONTRACT, "weight[0]: non-deterministic", "the rounding of another summation order)",
                 id="a broken contract rule keeps what and why"),
    pytest.param("raised ValueError: " + "shapes (4,5) and (3,) not aligned " * 8 + "at layer 2",
                 "raised ValueError:", "at layer 2", id="an error keeps its kind and the end of its message"),
])
def test_a_cut_line_keeps_the_start_and_the_reason(detail, start, reason, longest_case):
    line = brief.failure_line("contract FAIL in 12 cases, e.g. ", longest_case, detail)
    assert len(line) <= brief.LINE_LIMIT and "…" in line, line
    assert start in line and line.endswith(reason), line


def test_a_diagnosis_line_keeps_its_cause_before_where_it_shows(longest_case):
    place = "the error enters at layer 0 (dense+relu); wrong: " + ", ".join(f"weight[{i}]" for i in range(30))
    line = brief.cause_line("diagnosis, in 1 case: ", "weight[0] ×2 (only this)", longest_case, place)
    assert len(line) <= brief.LINE_LIMIT and "weight[0] ×2 (only this) (worst, " in line, line


def test_a_diagnosis_line_keeps_its_first_bug_whole_and_counts_on_the_rest(longest_case):
    first = "layers 0 and 1: the forward applies the relu derivative (a 0/1 step) where relu belongs"
    cause = f"{first}; output is returned as int64 where float64 is due; " + "bias[0] ×2 (only this); " * 3
    line = brief.cause_line("diagnosis, the same cause in 12 cases: ", cause.rstrip("; "), longest_case, "layer 1")
    assert len(line) <= brief.LINE_LIMIT and first in line and "; … (worst, " in line, line
