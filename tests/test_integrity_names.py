"""Names and paths are data: a submission's file name is shown, never interpreted.

A name with mathtext (``x$\\frac$.ipynb``) is a plot label like any other; names and
exception messages carrying ``<script>``, ``javascript:`` links and remote images reach
``summary.md`` and the feedback files as text; ``alice smith.ipynb`` and
``alice_smith.ipynb`` each get their own feedback file; one file under two paths (a
symbolic link named to sort first, a hard link) is two flagged rows, never merged; a link
out of the folder is not followed; a report part that cannot be written costs only
itself. The honest students' rows are those of a run without any of it.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from conformance.reporting import error_grid, escape, plots
from conformance.reporting import html as html_report
from conformance.reporting.files import Report, ReportError, write
from conformance.running import sandbox
from helpers import together
from integrity_course import buggy_notebook, conformance, correct_notebook, rows_of, targets, write_course

MATHTEXT = "x$\\frac$.ipynb"
SCRIPT = "<script>alert(1)<\\script>.ipynb"
LINKS = "[pwn](javascript:alert(1)) ![t](https:evil.example).ipynb"
PAYLOAD = "<script>alert(2)</script> ![i](http://evil.example/x.png) [c](javascript:alert(3))"


# ---- without a worker ----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    pytest.param(PAYLOAD, id="a script, a remote image and a javascript link"),
    pytest.param(SCRIPT + " " + LINKS, id="file names made of markup"),
])
def test_text_a_submission_chose_carries_no_markup_into_markdown(text):
    assert markup_outside_code(escape.markdown(text)) == []


def test_a_pair_of_backticks_stays_code_and_a_lone_one_is_text():
    shown = escape.markdown("skipped `!pip install x` then ` <b>")
    assert "`!pip install x`" in shown and markup_outside_code(shown) == []


@pytest.mark.parametrize("names", [
    pytest.param(("alice smith.ipynb", "alice_smith.ipynb", "alice%20smith.ipynb"),
                 id="a space, an underscore, an escape"),
    pytest.param(("a/b.ipynb", "a_b.ipynb", "a%2Fb.ipynb"), id="a folder, an underscore, an escape"),
    pytest.param((".hidden.ipynb", "%2Ehidden.ipynb", "..", "."), id="hidden names and dots"),
])
def test_feedback_file_names_are_one_per_path(names):
    files = [escape.feedback_file(name) for name in names]
    assert len(set(files)) == len(names)
    assert all("/" not in f and not f.startswith(".") for f in files)


def _results(names: list[str]) -> pd.DataFrame:
    detail = {"pass": "|error| 0 within tolerance 1", "fail": "|error| 2.5 exceeds tolerance 0.001"}
    rows = [{"implementation": name, "check": "gradient", "verdict": verdict, "tensor": "bias[0]",
             "detail": detail[verdict]} for name in names for verdict in ("pass", "fail")]
    return pd.DataFrame(rows)


def test_a_name_with_mathtext_is_a_plot_label_like_any_other():
    timings = pd.DataFrame([{"implementation": name, "phase": phase, "n_params": size, "ratio": 1.5}
                            for name in (MATHTEXT, "$$", "correct.ipynb") for phase in ("forward", "backward")
                            for size in (10, 1000)])
    assert plots.speed(timings)


def _report(names: list[str]) -> Report:
    from conformance.judge.results import COLUMNS

    frame = _results(names).reindex(columns=list(COLUMNS))
    return Report(frame.assign(case="c", max_abs_error=math.nan))


def test_a_picture_that_cannot_be_drawn_costs_the_picture_not_the_page(tmp_path, monkeypatch):
    def broken(*args):
        raise ValueError("no picture today")
    monkeypatch.setattr(error_grid, "where_wrong_html", broken)
    write(_report(["a.ipynb"]), tmp_path)
    assert "could not be drawn: ValueError: no picture today" in (tmp_path / "report.html").read_text()


def test_a_report_file_that_cannot_be_made_costs_only_that_file(tmp_path, monkeypatch):
    import conformance.reporting.files as files

    monkeypatch.setattr(files, "summary_markdown", lambda report: 1 / 0)
    with pytest.raises(ReportError, match="summary.md could not be written"):
        write(_report(["a.ipynb"]), tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"results.csv", "environment.json", "report.html"}


def markup_outside_code(text: str) -> list[str]:
    """Markdown that would render as HTML, a link or an image: unescaped ``<``, ``[`` or ``]``
    outside code spans and fenced blocks."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"(?<!\\)`[^`]+(?<!\\)`", "", text)
    return re.findall(r"(?<!\\)[<\[\]]", text)


# ---- a class graded with such names ------------------------------------------------------------

def e2e(test):
    """A test that grades a class: end-to-end tier, and only with the sandbox."""
    sandboxed = pytest.mark.skipif(sandbox.bubblewrap()[0] is None, reason=f"no sandbox: {sandbox.bubblewrap()[1]}")
    return pytest.mark.e2e(sandboxed(test))


def _class(root: Path, hostile: bool) -> dict:
    honest = {"correct.ipynb": correct_notebook(), "buggy.ipynb": buggy_notebook()}
    extra = {MATHTEXT: correct_notebook(), SCRIPT: correct_notebook(), LINKS: correct_notebook(),
             "alice smith.ipynb": correct_notebook(), "alice_smith.ipynb": buggy_notebook(),
             "raises.ipynb": _raising()} if hostile else {}
    _, students = write_course(root, honest | extra)
    if hostile:
        (students / "a_copy.ipynb").symlink_to("correct.ipynb")  # sorts first
        os.link(students / "buggy.ipynb", students / "hard_buggy.ipynb")
        (root / "outside").mkdir()
        (root / "outside" / "solution.ipynb").write_text(correct_notebook())
        (students / "z_out.ipynb").symlink_to(root / "outside" / "solution.ipynb")
    run = conformance(root, "grade", "assignment.py", "students", "--out", "report", "--quick", "--seed", "0",
                      "--timeout", "60", "--jobs", "1")
    return {"root": root, "run": run}


def _raising() -> str:
    import nbformat

    book = nbformat.reads(correct_notebook(), as_version=4)
    book.cells.append(nbformat.v4.new_code_cell(f"raise ValueError({PAYLOAD!r})"))
    return nbformat.writes(book)


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    """The class without such names and the one with them, graded at once."""
    clean, named = tmp_path_factory.mktemp("clean"), tmp_path_factory.mktemp("names")
    return together(lambda: _class(clean, hostile=False), lambda: _class(named, hostile=True))


@pytest.fixture(scope="module")
def clean(classes):
    return classes[0]


@pytest.fixture(scope="module")
def hostile(classes):
    return classes[1]


@e2e
def test_the_run_finishes_with_every_part_of_its_report(hostile):
    run, report = hostile["run"], hostile["root"] / "report"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    for name in ("targets.csv", "results.csv", "summary.md", "report.html"):
        assert (report / name).is_file(), name
    assert not (report / "journal.jsonl").exists()  # a run that completed needs no journal
    assert "could not be" not in run.stderr


@e2e
def test_the_honest_rows_are_those_of_a_run_without_the_names(clean, hostile):
    for target in ("students/correct.ipynb", "students/buggy.ipynb"):
        pd.testing.assert_frame_equal(rows_of(hostile["root"] / "report", target),
                                      rows_of(clean["root"] / "report", target))


@e2e
@pytest.mark.parametrize("name", [MATHTEXT, SCRIPT, LINKS, "alice smith.ipynb"])
def test_a_hostile_name_is_graded_on_its_merit(hostile, name):
    assert targets(hostile["root"] / "report").loc[f"students/{name}", "verdict"] == "pass"


@e2e
def test_every_student_has_a_feedback_file_of_their_own(hostile):
    sheet = targets(hostile["root"] / "report")
    files = {p.name for p in (hostile["root"] / "report" / "feedback").iterdir()}
    assert files == {escape.feedback_file(target) for target in sheet.index}
    smith = (hostile["root"] / "report" / "feedback" / escape.feedback_file("students/alice_smith.ipynb")).read_text()
    assert "DOES NOT CONFORM" in smith  # alice_smith's own (buggy) verdict, not alice smith's


@e2e
def test_no_markup_of_a_submission_reaches_summary_or_feedback(hostile):
    report = hostile["root"] / "report"
    for path in [report / "summary.md", *(report / "feedback").iterdir()]:
        assert markup_outside_code(path.read_text()) == [], path.name
    raised = (report / "feedback" / escape.feedback_file("students/raises.ipynb")).read_text()
    assert "raised ValueError" in raised and "\\<script\\>" in raised
    html = (report / "report.html").read_text()
    assert html.count("<script") == html.count(html_report.SORT_SCRIPT) == 1  # the report's own, and only it
    html = html.replace(html_report.SORT_SCRIPT, "")
    assert "<script" not in html and "javascript:alert" not in html.replace("(javascript:alert", "")


@e2e
def test_one_file_under_two_names_is_two_flagged_rows(hostile):
    sheet, stderr = targets(hostile["root"] / "report"), hostile["run"].stderr
    assert sheet.loc["students/a_copy.ipynb", "verdict"] == sheet.loc["students/correct.ipynb", "verdict"] == "pass"
    assert sheet.loc["students/hard_buggy.ipynb", "verdict"] == sheet.loc["students/buggy.ipynb", "verdict"] == "fail"
    for name in ("a_copy.ipynb", "correct.ipynb", "hard_buggy.ipynb", "buggy.ipynb"):
        assert f"flagged: students/{name} is" in stderr, name
    feedback = hostile["root"] / "report" / "feedback" / escape.feedback_file("students/a_copy.ipynb")
    assert "is a symbolic link to" in feedback.read_text()


@e2e
def test_a_link_out_of_the_folder_is_not_followed(hostile):
    row = targets(hostile["root"] / "report").loc["students/z_out.ipynb"]
    assert row["verdict"] == "not loaded" and "not followed" in row["reason"]
