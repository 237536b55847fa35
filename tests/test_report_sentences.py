"""What a report says about itself holds on the page it is on: a short list's pointer to the
problems it leaves out is one sentence on the console and in summary.md and names a file the run
wrote; summary.md, which has no picture, mentions none; report.html's worst errors point to its
grid. (A grading's headline and its untimed note are tested on a real grading, ``test_grade``.)"""

from __future__ import annotations

import io
import re

import pytest

from conformance.api import Options, run_suite
from conformance.cases.spec import NetworkSpec
from conformance.cli.suite import print_outcome
from conformance.reporting.verdicts import MORE_IN
from conformance.running.targets import Target, builtin
from tests.faulty.wrong_gradients import TwoCauses
from tests.helpers import PINNED

MORE = re.compile(r"… and (\d+) more kinds? of problem \((.*)\)$")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    cases = [c for c in PINNED if isinstance(c.spec, NetworkSpec)]
    report = run_suite([builtin("reference_numpy"), Target("two_causes", TwoCauses, "tests.faulty.wrong_gradients")],
                       cases=cases, options=Options(isolate=False, timing=False))
    folder = tmp_path_factory.mktemp("report")
    report.write(folder)
    console = io.StringIO()
    print_outcome(report, console)
    return folder, console.getvalue()


def _pointers(text: str) -> list[tuple[int, str]]:
    return [(int(m[1]), m[2]) for line in text.splitlines() if (m := MORE.search(line.strip()))]


@pytest.mark.parametrize("where", [pytest.param("console", id="on the console"),
                                   pytest.param("summary.md", id="in summary.md")])
def test_the_problems_a_short_list_leaves_out_are_where_it_says(written, where):
    folder, console = written
    text = console if where == "console" else (folder / "summary.md").read_text(encoding="utf-8")
    pointers = _pointers(text)
    assert pointers, f"no '… and N more kinds of problem' line {where}:\n{text}"
    for _, pointer in pointers:
        assert pointer == MORE_IN, pointer
        named = re.findall(r"\b[\w.]+\.(?:csv|md|html)\b", pointer)
        assert named and all((folder / name).exists() for name in named), (pointer, named)
        for page in (name for name in named if not name.endswith(".csv")):  # a page said to hold every one
            assert not _pointers((folder / page).read_text(encoding="utf-8")), f"{page} lists only some: {pointer}"


def test_the_console_and_summary_md_count_the_same_problems(written):
    folder, console = written
    summary = (folder / "summary.md").read_text(encoding="utf-8")

    def kinds(text: str) -> int:
        listed = len(re.findall(r"^\s*(?:- )?\w+ (?:FAIL|error) in \d+ cases?, e\.g\. ", text, re.M))
        return listed + sum(more for more, _ in _pointers(text))

    assert kinds(console) == kinds(summary) > 0


def test_summary_md_refers_to_no_picture(written):
    folder, _ = written
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert not re.search(r"picture|plot|figure|above|coloured", summary, re.I), \
        [line for line in summary.splitlines() if re.search(r"picture|plot|figure|above|coloured", line, re.I)]


def test_report_html_points_its_worst_errors_to_its_grid(written):
    folder, _ = written
    page = (folder / "report.html").read_text(encoding="utf-8")
    worst = page.split("<h2>Worst errors</h2>", 1)[1].split("</p>", 1)[0]
    assert "Where it is wrong" in worst and "<h2>Where it is wrong</h2>" in page.split("<h2>Worst errors</h2>")[0]
