"""Cases that did not apply are kept as one entry per implementation × reason
(``judge.skipped``) instead of a row each: every reader of a report gives the answers it
gave when they were rows, and the two files beside results.csv hold the same facts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from conformance.cases.grid import default_grid
from conformance.judge.results import COLUMNS, row
from conformance.judge.skipped import split
from conformance.reporting.files import Report
from conformance.reporting.junit import junit_tree
from conformance.reporting.markdown import summary_markdown
from conformance.reporting.not_applicable import CASE_LISTS, SUMMARY, tables
from conformance.reporting.tables import count_matrix, findings, not_applicable_table, verdict_table
from conformance.reporting.verdicts import render_target, target_results

CASES = default_grid(quick=True)[:30]
REASONS = ("no tanh hidden activation", "no float32")


def _rows_of(name: str, applies, wrong=False):
    """One implementation's rows: a forward and a gradient row per case that applies, else a
    not-applicable row with one of two reasons."""
    out = []
    for number, case in enumerate(CASES):
        if not applies(number):
            out.append(row(name, case, "case", "*", "not_applicable", REASONS[number % 2]))
            continue
        out.append(row(name, case, "forward", "output", "pass", "agrees"))
        verdict = "fail" if wrong and number % 3 == 0 else "pass"
        out.append(row(name, case, "gradient", "weight[0]", verdict, "got 1, PyTorch 2" if verdict == "fail" else "ok"))
    return out


RUNS = {
    "some cases apply, two reasons for the rest": _rows_of("partly", lambda n: n % 5 == 0),
    "no case applies before one that applies everywhere": (_rows_of("nothing", lambda n: False)
                                                           + _rows_of("all", lambda n: True, wrong=True)),
    "every case applies": _rows_of("all", lambda n: True),
    "a wrong gradient beside skipped cases": (_rows_of("partly", lambda n: n % 4 == 1, wrong=True)
                                              + _rows_of("nothing", lambda n: False)),
}


def _both(rows) -> tuple[Report, Report]:
    """The report with a row per skipped case, and the one with them summarised."""
    full = Report(pd.DataFrame([r.as_dict() for r in rows], columns=list(COLUMNS)), environment={"grid": "quick"})
    kept, skipped = split(rows)
    return full, Report(pd.DataFrame([r.as_dict() for r in kept], columns=list(COLUMNS)),
                        environment={"grid": "quick"}, not_applicable=skipped)


def _junit(tree) -> list[tuple]:
    return sorted((case.get("classname"), case.get("name"), tuple((c.tag, c.get("message")) for c in case))
                  for case in tree.getroot().iter("testcase"))


@pytest.mark.parametrize("rows", [pytest.param(rows, id=name) for name, rows in RUNS.items()])
def test_a_summarised_report_says_what_the_report_with_a_row_per_case_said(rows):
    full, summarised = _both(rows)
    na = summarised.not_applicable
    assert summary_markdown(summarised) == summary_markdown(full)
    assert verdict_table(summarised.results, not_applicable=na).equals(verdict_table(full.results))
    assert findings(summarised.results, not_applicable=na) == findings(full.results)
    assert count_matrix(summarised.results, na).equals(count_matrix(full.results))
    assert not_applicable_table(summarised.results, na).equals(not_applicable_table(full.results))
    assert ([render_target(r) for r in target_results(summarised.results, na)]
            == [render_target(r) for r in target_results(full.results)])
    assert summarised.exit_code == full.exit_code
    assert _junit(junit_tree(summarised.results, (), na)) == _junit(junit_tree(full.results))


@pytest.mark.parametrize("rows", [pytest.param(rows, id=name) for name, rows in RUNS.items()])
def test_the_summarised_rows_expand_to_the_rows_they_replaced(rows):
    kept, skipped = split(rows)
    expanded = skipped.rows({c.id: c for c in CASES})
    assert sorted(map(repr, kept + expanded)) == sorted(map(repr, rows))
    assert all(r.verdict != "not_applicable" for r in kept)


def test_the_files_list_each_distinct_list_of_cases_once_and_count_every_case():
    rows = _rows_of("one", lambda n: n % 5 == 0) + _rows_of("two", lambda n: n % 5 == 0)
    _, skipped = split(rows)
    files = tables(skipped)
    summary, lists = files[SUMMARY], files[CASE_LISTS]
    assert len(summary) == 2 * len(REASONS)
    assert lists["case_list"].nunique() == len(REASONS)
    members = lists.groupby("case_list")["case"].apply(tuple)
    for record in summary.itertuples(index=False):
        listed = members[record.case_list]
        assert len(listed) == record.cases
        assert set(listed) == skipped.cases(record.implementation) & set(listed)
    assert summary["cases"].sum() == sum(r.verdict == "not_applicable" for r in rows)


def test_a_report_of_targets_none_of_whose_cases_applied_is_not_empty():
    _, summarised = _both(_rows_of("nothing", lambda n: False))
    assert summarised.results.empty and not summarised.empty
    assert [r.verdict for r in target_results(summarised.results, summarised.not_applicable)] == ["nothing ran"]
    assert ET.tostring(junit_tree(summarised.results, (), summarised.not_applicable).getroot()).count(b"<skipped") \
        == len(CASES)
