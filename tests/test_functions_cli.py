"""``conformance check`` on files of declared functions: the shipped example passes, a planted
bug fails with its element and cause, and a file's code runs in the sandboxed worker only, its
replies validated (a lie is an error row, never a pass)."""

from __future__ import annotations

import builtins
from pathlib import Path

import pandas as pd
import pytest

from conformance import cli
from conformance.functions.command import check_files
from conformance.judge.results import COLUMNS
from tests.faulty import function_files

pytestmark = pytest.mark.e2e  # a worker per file
ROOT = Path(__file__).resolve().parent.parent


def conformance(*argv, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_shipped_example_checked_from_its_file_agrees_and_writes_the_report(tmp_path, capsys):
    path = tmp_path / "ops.py"
    assert conformance("new", "--example", "custom_ops", path, capsys=capsys)[0] == 0
    code, out, err = conformance("check", path, "--out", tmp_path / "report", capsys=capsys)
    assert code == 0, out + err
    assert f"{path}:LinearGelu: gradients agree" in out and f"{path}:affine_relu_forward: gradients agree" in out
    results = pd.read_csv(tmp_path / "report" / "results.csv")
    assert list(results.columns) == list(COLUMNS) and set(results["verdict"]) == {"pass"}
    assert {"forward", "gradient", "fd_directional", "fd_entry"} <= set(results["check"])
    assert (tmp_path / "report" / "summary.md").stat().st_size > 0


def test_a_bias_averaged_over_the_batch_fails_with_its_element_and_cause(tmp_path, capsys):
    path = tmp_path / "ops.py"
    path.write_text(function_files.BIAS_MEAN)
    code, out, _ = conformance("check", path, "--out", tmp_path / "report", capsys=capsys)
    assert code == 1
    assert "GRADIENTS WRONG" in out and "fd_entry FAIL b" in out
    assert "b's gradient is ×0.2 = 1/5 (a mean over 5" in out


def test_the_file_runs_in_the_worker_only_and_a_lying_reply_is_an_error(tmp_path):
    path = tmp_path / "hostile.py"
    path.write_text(function_files.HOSTILE)
    (report,) = check_files([str(path)])
    assert not hasattr(builtins, "IMPORTED_BY_THE_GRADER")
    assert not report.passed
    assert {r.verdict for r in report.rows} == {"error"}
    assert "malformed reply" in report.rows[0].detail


def test_declarations_that_cannot_be_read_are_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "ops.py"
    path.write_text("FUNCTIONS = {'f': {'inputs': {'x': ('index', (3,))}}}\n")
    code, _, err = conformance("check", path, capsys=capsys)
    assert code == 2 and err.count("\n") == 1 and "('index', shape, high)" in err


def test_functions_written_from_the_documentation_agree_from_their_file(tmp_path, capsys):
    path = ROOT / "tests" / "outside" / "custom_functions.py"
    code, out, err = conformance("check", path, "--out", tmp_path, capsys=capsys)
    assert code == 0, out + err
    assert out.count(": gradients agree") == 4


def test_a_function_that_hangs_costs_its_timeout_and_is_an_error(tmp_path):
    from conformance.running.limits import Limits

    path = tmp_path / "hangs.py"
    path.write_text(function_files.HANGS)
    (report,) = check_files([str(path)], limits=Limits(timeout_s=1.0))
    assert {r.verdict for r in report.rows} == {"error"}
    assert any("timed out" in r.detail for r in report.rows)
