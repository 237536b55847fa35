"""The verdicts as JUnit XML (``--junit-xml PATH``), the format CI systems show natively:
one test suite per implementation, one test case per implementation × case.

A case fails when any of its rows fails (the message is the first failing
row's check and detail, every failing row in the body), errors when the
implementation raised or gave no answer, and is skipped with the reason when it
does not apply; a recorded known defect is skipped too, as pytest reports an
expected failure. A target that could not be loaded (``not_loaded``: a student's
notebook missing the assignment's API, say) is a suite of its own with one test
case, ``load``, in error with the reason, so that it fails the CI run too.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from conformance.judge.results import message
from conformance.judge.skipped import NotApplicable
from conformance.reporting.files import ReportError


def check_writable(path: Path | str) -> Path:
    """The file to write, checked before the run: ``ReportError`` when its folder is missing
    or cannot be written, or the path is a folder."""
    path = Path(path)
    if path.is_dir():
        raise ReportError(f"--junit-xml {path} is a folder; give a file name such as {path / 'results.xml'}")
    folder = path.parent
    if not folder.is_dir():
        raise ReportError(f"--junit-xml {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ReportError(f"--junit-xml {path}: cannot be written there")
    return path


def _said(row) -> str:
    return message(row.detail, row.known_defect, row.diagnosis)


def _lines(rows) -> str:
    return "\n".join(f"{r.check} {r.tensor}: {_said(r)}" for r in rows)


def _case_element(implementation: str, case: str, rows: list) -> ET.Element:
    """One test case from its rows (tuples with ``check``, ``tensor``, ``verdict``, ``detail``,
    ``known_defect``, ``diagnosis``)."""
    element = ET.Element("testcase", classname=implementation, name=case)
    def rows_of(verdict):
        return [r for r in rows if r.verdict == verdict]

    verdicts = {r.verdict for r in rows}
    if "fail" in verdicts:
        failing = rows_of("fail")
        first = failing[0]
        ET.SubElement(element, "failure", message=f"{first.check} {first.tensor}: {_said(first)}",
                      type="fail").text = _lines(failing)
    elif "error" in verdicts:
        erring = rows_of("error")
        ET.SubElement(element, "error", message=_said(erring[0]), type="error").text = _lines(erring)
    elif any(r.check == "case" for r in rows) and "not_applicable" in verdicts:
        ET.SubElement(element, "skipped", message=f"not applicable: {rows[0].detail}")
    elif "expected_fail" in verdicts:
        reasons = sorted({f"known defect: {r.known_defect}" for r in rows_of("expected_fail")})
        ET.SubElement(element, "skipped", message="; ".join(reasons), type="expected_fail")
    return element


def _grouped(results: pd.DataFrame) -> dict[str, dict[str, list]]:
    """The rows by implementation, then by case, in the order they first appear. In plain
    Python: a graded class has hundreds of thousands of cases, and a pandas group each
    cost minutes."""
    grouped: dict[str, dict[str, list]] = {}
    columns = results[["implementation", "case", "check", "tensor", "verdict", "detail", "known_defect", "diagnosis"]]
    for row in columns.itertuples(index=False):
        grouped.setdefault(str(row.implementation), {}).setdefault(str(row.case), []).append(row)
    return grouped


def _not_loaded_element(target: str, reason: str) -> ET.Element:
    element = ET.Element("testcase", classname=target, name="load")
    ET.SubElement(element, "error", message=f"not loaded: {reason}", type="not_loaded").text = reason
    return element


def _skipped_element(implementation: str, case: str, reason: str) -> ET.Element:
    element = ET.Element("testcase", classname=implementation, name=case)
    ET.SubElement(element, "skipped", message=f"not applicable: {reason}")
    return element


def junit_tree(results: pd.DataFrame, not_loaded: Sequence[tuple[str, str]] = (),
               not_applicable: NotApplicable = NotApplicable()) -> ET.ElementTree:
    """The XML document: ``<testsuites>`` with one ``<testsuite>`` per implementation (its
    cases that did not apply, from ``not_applicable``, after those that ran), and one per
    target that could not be loaded (``not_loaded``: (target, reason) pairs)."""
    root = ET.Element("testsuites", name="conformance")
    grouped = _grouped(results)
    for implementation in not_applicable.implementations(grouped):
        suite = ET.SubElement(root, "testsuite", name=implementation)
        for case, case_rows in grouped.get(implementation, {}).items():
            suite.append(_case_element(implementation, case, case_rows))
        for entry in not_applicable.of(implementation):
            suite.extend(_skipped_element(implementation, case, entry.reason) for case in entry.cases)
    for target, reason in not_loaded:
        ET.SubElement(root, "testsuite", name=str(target)).append(_not_loaded_element(str(target), str(reason)))
    for suite in root:
        counts = {tag: len(suite.findall(f"testcase/{tag}")) for tag in ("failure", "error", "skipped")}
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(counts["failure"]))
        suite.set("errors", str(counts["error"]))
        suite.set("skipped", str(counts["skipped"]))
    for attribute in ("tests", "failures", "errors", "skipped"):
        root.set(attribute, str(sum(int(s.get(attribute)) for s in root)))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(results: pd.DataFrame, path: Path | str, not_loaded: Sequence[tuple[str, str]] = (),
                not_applicable: NotApplicable = NotApplicable()) -> Path:
    """Write ``junit_tree(results, not_loaded, not_applicable)`` to ``path`` (atomically) and return the path."""
    from conformance.reporting.files import write_atomically

    path = Path(path)
    tree = junit_tree(results, not_loaded, not_applicable)
    text = ET.tostring(tree.getroot(), encoding="unicode", xml_declaration=True)
    write_atomically(path, text + "\n")
    return path
