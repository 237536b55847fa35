"""The files a run writes (``conformance.reporting``): which files, their columns, and what
summary.md and report.html say about a conforming implementation, one with recorded known
defects and one with a wrong gradient nobody recorded."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conformance.api import Options, run_suite
from conformance.cases.grid import default_grid
from conformance.judge.results import COLUMNS
from conformance.reporting.files import FILES, ReportError
from conformance.running.targets import Target, builtin
from tests.faulty.wrong_gradients import DoubledBackward

DOUBLED = Target("doubled_backward", DoubledBackward, "tests.faulty.wrong_gradients")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    two_layer = [c for c in default_grid(quick=True) if c.spec.depth == 2 and c.batch == 4]
    # and two_layer_sgd's kind (a hidden nonlinearity, where its known defect shows), chosen by what
    # the cases are rather than by where they fall in the grid's order
    nonlinear = [c for c in two_layer if c.spec.layers[0].activation != "identity"]
    cases = list({c.id: c for c in two_layer[:40] + nonlinear[:20]}.values())
    report = run_suite([builtin("reference_numpy"), builtin("two_layer_sgd"), DOUBLED], cases=cases,
                       options=Options(isolate=False, timing=False))
    folder = tmp_path_factory.mktemp("report")
    paths = report.write(folder)
    return report, folder, paths


def test_a_run_writes_every_file_of_the_report(written):
    _, folder, paths = written
    assert {p.name for p in paths} == set(FILES)
    assert all((folder / name).stat().st_size > 0 for name in FILES)


def test_results_csv_has_a_column_per_field_of_a_row_the_diagnosis_and_known_defect_among_them(written):
    _, folder, _ = written
    table = pd.read_csv(folder / "results.csv", keep_default_na=False)
    assert tuple(table.columns) == COLUMNS
    assert {"diagnosis", "known_defect"} <= set(table.columns)


def test_a_known_defect_and_a_diagnosis_are_columns_of_their_own_not_text_in_detail(written):
    _, folder, _ = written
    table = pd.read_csv(folder / "results.csv", keep_default_na=False)
    known = table[table["verdict"] == "expected_fail"]
    assert len(known) and (known["known_defect"] != "").all()
    assert not table["detail"].str.contains("known defect:|diagnosis:").any()
    failing = table[(table["implementation"] == "doubled_backward") & (table["verdict"] == "fail")
                    & table["check"].isin(["gradient", "fd_entry"])]
    assert len(failing) and (failing["diagnosis"] != "").all()
    assert (table[table["verdict"] == "pass"]["known_defect"] == "").all()


def test_summary_md_names_each_verdict_the_known_defects_and_the_diagnosis(written):
    _, folder, _ = written
    text = (folder / "summary.md").read_text(encoding="utf-8")
    assert text.startswith("# Conformance report")
    for name in ("reference_numpy", "two_layer_sgd", "doubled_backward"):
        assert name in text
    assert "DOES NOT CONFORM" in text or "does not conform" in text.lower()
    assert "known defect: forward applies relu_prime" in text
    assert "diagnosis, the same cause in " in text


def test_report_html_is_one_self_contained_page_with_the_verdict_table_and_the_plots(written):
    _, folder, _ = written
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") or page.lstrip().lower().startswith("<!doctype html")
    assert "<h2>What is wrong</h2>" in page and "doubled_backward" in page
    assert '<table class="grid">' in page  # where it is wrong: a table that reads at any width
    assert "http://" not in page.replace("http://www.w3.org", "") and "<script src" not in page


def test_environment_json_says_what_ran_and_where(written):
    _, folder, _ = written
    env = json.loads((folder / "environment.json").read_text(encoding="utf-8"))
    assert env["implementations"] == "reference_numpy, two_layer_sgd, doubled_backward"
    assert {"python", "numpy", "torch", "sandbox", "cases"} <= set(env)


def test_a_file_the_suite_did_not_write_is_never_overwritten(written, tmp_path):
    report, _, _ = written
    mine = tmp_path / "summary.md"
    mine.write_text("my notes\n", encoding="utf-8")
    with pytest.raises(ReportError, match="summary.md"):
        report.write(tmp_path)
    assert mine.read_text(encoding="utf-8") == "my notes\n"


def _grid_rows(verdict: str, detail: str) -> list[dict]:
    return [{"implementation": "mine", "check": "gradient", "tensor": "bias[0]", "verdict": verdict, "detail": detail},
            {"implementation": "mine", "check": "gradient", "tensor": "weight[0]", "verdict": "pass",
             "detail": "|error| 0 within tolerance 1"}]


@pytest.mark.parametrize("verdict, hue", [pytest.param("fail", "hsl(0,", id="an unexpected failure is red"),
                                          pytest.param("expected_fail", "hsl(30,", id="a known defect is orange")])
def test_the_error_grid_colours_a_failure_by_whether_it_was_expected(verdict, hue):
    from conformance.reporting.error_grid import where_wrong_html

    page = where_wrong_html(pd.DataFrame(_grid_rows(verdict, "|error| 2 exceeds tolerance 0.001")))
    row = page.split("<tbody>")[1].split("</tbody>")[0]
    assert f"{hue} 75%" in row and "×2e3" in row and '<td class="pass"' in row
    other = "hsl(30," if hue == "hsl(0," else "hsl(0,"
    assert f"{other} 75%" not in row
