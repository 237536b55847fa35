"""Grading a class: the worked example's notebooks get their verdicts and scores, and the
outputs a course reads (feedback, targets.csv, Gradescope's results.json, JUnit XML, the
class summary, the autograder bundle) say so; notebooks and settings are read as promised."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from conformance.running import replies
from conformance.cli import main
from conformance.running.driver import ImplementationFault
from conformance.examples.assignment_004 import students
from conformance.grading.assignment import AssignmentError, read_settings
from conformance.running.notebooks import python_source

EXAMPLE = Path(students.__file__).parent
ASSIGNMENT = EXAMPLE / "assignment.py"
#: The names the worked example's sheet asks a submission for.
API = read_settings(ASSIGNMENT).api
HARNESS = Path(__file__).resolve().parent.parent
#: The worked example's endless-loop cell is stopped after this long; honest cells take well under a second.
CELL_TIMEOUT = 10


# ---- notebooks --------------------------------------------------------------------------

def test_ipython_lines_are_skipped_and_blocks_stay_blocks():
    cell = python_source("!pip install numpy\n%matplotlib inline\nfor i in range(2):\n    !echo hi\n    x = i\n")
    assert cell.skipped == ("!pip install numpy", "%matplotlib inline", "!echo hi")
    namespace: dict = {}
    exec(compile(cell.python, "cell", "exec"), namespace)
    assert namespace["x"] == 1


def test_time_cell_runs_its_body_other_cell_magics_are_skipped():
    timed = python_source("%%time\ny = 3\n")
    assert timed.skipped == ("%%time",) and not timed.whole_cell and "y = 3" in timed.python
    bash = python_source("%%bash\nrm -rf /\n")
    assert bash.whole_cell and bash.python == ""


def test_plain_python_is_left_alone_even_with_a_percent_sign():
    source = "text = '''\n!not a shell line\n'''\nratio = 3 % 2\n"
    assert python_source(source) == python_source(source).__class__(source)


def test_committed_notebooks_are_the_generators_output(tmp_path):
    for path in students.write(tmp_path):
        committed = nbformat.read(str(EXAMPLE / "students" / path.name), as_version=4)
        fresh = nbformat.read(str(path), as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], path.name


# ---- settings ---------------------------------------------------------------------------

def test_settings_are_read_without_running_the_file(tmp_path):
    path = tmp_path / "a.py"
    path.write_text("raise SystemExit('never run')\nAPI = ('f',)\nREQUIRE = 'bias'\n"
                    "POINTS = {'gradient': 3, 'bias,depth>=2': 1.5}\nclass A: pass\n")
    settings = read_settings(path)
    assert settings.api == ("f",) and settings.require.text == "bias"
    assert settings.points == (("gradient", 3.0), ("bias,depth>=2", 1.5)) and settings.max_score == 4.5


@pytest.mark.parametrize("line, words", [
    ("POINTS = {'gradients': 2}", "neither a check family"),
    ("POINTS = {'gradient': -1}", "number of points"),
    ("POINTS = dict(gradient=2)", "plain literal"),
    ("REQUIRE = 'bias,qubits'", "REQUIRE"),
    ("API = ('not a name',)", "API must be"),
])
def test_unusable_settings_are_one_line_errors(tmp_path, line, words):
    path = tmp_path / "a.py"
    path.write_text(f"{line}\nclass A: pass\n")
    with pytest.raises(AssignmentError, match=words):
        read_settings(path)


def test_a_bad_assignment_is_exit_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "a.py"
    path.write_text("POINTS = {'gradients': 2}\nclass A: pass\n")
    assert main(["grade", str(path), str(EXAMPLE / "students" / "correct.ipynb"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "neither a check family" in err[0] and "Traceback" not in err[0]


# ---- the load reply's notes ------------------------------------------------------------

def _reply(notes):
    from conformance.contract.adapter import Capabilities
    from conformance.running.worker import describe_loaded

    cls = type("A", (), {"name": "a", "description": "", "capabilities": Capabilities()})
    body = describe_loaded(cls)
    body["notes"] = notes
    return body


def test_load_notes_are_cleaned_and_bounded():
    described = replies.load_reply(_reply(["cell 2 raised \x1b[31mValueError\nx", "=cmd"]))
    assert described["notes"] == ("cell 2 raised [31mValueError x", "'=cmd")
    for bad in ("text", [1], ["x"] * (replies.MAX_LOAD_NOTES + 1)):
        with pytest.raises(ImplementationFault, match="notes"):
            replies.load_reply(_reply(bad))


# ---- grading the worked example ------------------------------------------------------------

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    junit = out / "junit.xml"
    result = subprocess.run([sys.executable, "-m", "conformance", "grade", str(ASSIGNMENT), str(EXAMPLE / "students"),
                             "--out", str(out / "reports"), "--timeout", str(CELL_TIMEOUT), "--jobs", "1",
                             "--seed", "0",
                             "--junit-xml", str(junit)], capture_output=True, text=True, cwd=HARNESS, timeout=600)
    return out, result


@pytest.mark.e2e
def test_each_notebook_gets_its_verdict_and_score(graded):
    out, result = graded
    assert result.returncode == 2, result.stderr  # renamed.ipynb cannot be loaded
    table = pd.read_csv(out / "reports" / "targets.csv")
    table["student"] = table["target"].map(lambda t: Path(t).stem)
    rows = table.set_index("student")
    assert set(rows.index) == set(students.EXPECTED)
    for name, verdict in students.EXPECTED.items():
        row = rows.loc[name]
        assert row["verdict"] == verdict, name
        assert row["max score"] == 10
        if verdict == "pass":
            assert row["score"] == 10, name
        elif verdict == "fail":
            assert 0 < row["score"] < 10, name
        else:
            assert row["score"] == 0 and "does not define NeuralNetwork" in row["reason"]


@pytest.mark.e2e
def test_feedback_says_what_where_why_and_the_smallest_case(graded):
    out, _ = graded
    folder = out / "reports" / "feedback"
    seed = next(folder.glob("*seed.ipynb.md")).read_text()
    assert "**Verdict:** DOES NOT CONFORM" in seed and "**Score:**" in seed
    assert "layer 0 (the first), its bias (`bias[0]`)" in seed
    assert "not summed over the batch" in seed and "misses the mean's 1/(batch·outputs)" in seed
    code = seed.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(students.LIBRARY, namespace)  # the seed's own code, as in the notebook
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, namespace)  # the case as written runs on it, and gives the expected values to compare with
    assert namespace["expected_db0"].shape == namespace["b0"].shape
    assert np.shape(namespace["b_grads"][0]) != namespace["expected_db0"].shape  # the bias not summed, shown
    hangs = next(folder.glob("*hangs.ipynb.md")).read_text()
    assert f"cell 4 was stopped after {CELL_TIMEOUT} s" in hangs and "Nothing: every case" in hangs
    plot = next(folder.glob("*pip_and_plot.ipynb.md")).read_text()
    assert "`!pip install numpy matplotlib`" in plot and "`%matplotlib inline`" in plot
    raises = next(folder.glob("*raises.ipynb.md")).read_text()
    assert "cell 4 raised ValueError" in raises


@pytest.mark.e2e
def test_class_summary_counts_the_mistakes(graded):
    out, result = graded
    html = (out / "reports" / "report.html").read_text()
    assert "Mistakes in the class" in html
    assert "1 × bias[·] ×1/batch" in result.stdout
    assert "1 × bias[·] not summed over the batch" in result.stdout
    grades = pd.read_csv(out / "reports" / "grades.csv").set_index("student")
    assert {Path(s).stem for s in grades.index} == set(students.EXPECTED)  # the one not loaded included
    assert list(grades.columns) == ["score", "max", "verdict", "reason"] and grades["reason"].astype(bool).all()
    students_table = html.split("<h2>Students</h2>", 1)[1].split("</table>", 1)[0]
    for student in grades.index:
        assert f">{student}</td>" in students_table, student


@pytest.mark.e2e
def test_the_grading_report_counts_students_and_says_why_it_is_not_timed(graded):
    out, _ = graded
    summary = (out / "reports" / "summary.md").read_text()
    headline = summary.splitlines()[2]
    count = len(students.EXPECTED)  # the one not loaded included
    assert headline.startswith(f"{count} students · "), headline
    html = (out / "reports" / "report.html").read_text()
    timings = html.split("<h2>Timings</h2>", 1)[1].split("</p>", 1)[0]
    assert "grading" in timings and "--no-timing" not in timings, timings


@pytest.mark.e2e
def test_junit_has_a_suite_per_student_and_the_unloaded_one_errs_with_its_reason(graded):
    out, _ = graded
    root = ET.parse(out / "junit.xml").getroot()
    suites = {Path(s.get("name")).stem: s for s in root}
    assert set(suites) == set(students.EXPECTED)
    renamed = suites["renamed"]
    assert renamed.get("tests") == "1" and renamed.get("errors") == "1" and renamed.get("failures") == "0"
    error = renamed.find("testcase[@name='load']/error")
    assert error is not None and "does not define NeuralNetwork" in error.get("message")
    assert int(root.get("errors")) >= 1
    assert suites["correct"].get("errors") == "0" and suites["correct"].get("failures") == "0"


@pytest.mark.e2e
def test_junit_of_a_class_none_of_whose_submissions_loads(tmp_path):
    junit = tmp_path / "junit.xml"
    code = main(["grade", str(ASSIGNMENT), str(EXAMPLE / "students" / "renamed.ipynb"), "--out", str(tmp_path / "r"),
                 "--quick", "--jobs", "1", "--junit-xml", str(junit)])
    assert code == 2
    [suite] = ET.parse(junit).getroot()
    assert suite.get("name").endswith("renamed.ipynb") and suite.get("errors") == "1"
    assert "does not define NeuralNetwork" in suite.find("testcase/error").text


def test_junit_tree_lists_unloaded_targets_as_errors():
    from conformance.reporting.junit import junit_tree
    from conformance.judge.results import COLUMNS

    root = junit_tree(pd.DataFrame(columns=list(COLUMNS)), [("a.ipynb", "syntax error in a.ipynb, line 3")]).getroot()
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("1", "1", "0")
    error = root.find("testsuite[@name='a.ipynb']/testcase[@name='load']/error")
    assert error.get("type") == "not_loaded" and error.text == "syntax error in a.ipynb, line 3"


@pytest.mark.e2e  # starts a worker
def test_grade_and_autograder_take_the_same_worker_limits(tmp_path):
    from conformance.cli import build_parser

    verbs = build_parser()._subparsers._group_actions[0].choices
    helps = {verb: {a.dest: a.help for a in verbs[verb]._actions if a.dest in ("timeout", "memory")}
             for verb in ("grade", "autograder")}
    assert set(helps["grade"]) == {"timeout", "memory"} and helps["grade"] == helps["autograder"]
    assert "notebook cell" in helps["grade"]["timeout"]
    assert main(["autograder", str(ASSIGNMENT), "--out", str(tmp_path), "--timeout", "7", "--memory", "2048"]) == 0
    assert "--timeout 7 --memory 2048 --jobs 1" in (tmp_path / "run_autograder").read_text()


@pytest.mark.e2e
def test_a_class_graded_by_two_processes_gets_the_grades_of_one(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for number in range(8):  # enough students that the processes take whole students
        name = ("correct", "seed", "bias_mean", "renamed")[number % 4]
        shutil.copy(EXAMPLE / "students" / f"{name}.ipynb", folder / f"student{number}_{name}.ipynb")
    tables = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        assert main(["grade", str(ASSIGNMENT), str(folder), "--out", str(out), "--quick", "--jobs", str(jobs),
                     "--seed", "0",  # the same cases for both (grade draws a seed of its own otherwise)
                     "--junit-xml", str(tmp_path / f"jobs{jobs}.xml")]) == 2
        tables[jobs] = pd.read_csv(out / "targets.csv")
    pd.testing.assert_frame_equal(tables[2], tables[1])
    verdicts = dict(zip(tables[2]["target"].map(lambda t: Path(t).stem.split("_", 1)[1]), tables[2]["verdict"]))
    assert verdicts["seed"] == verdicts["bias_mean"] == "fail" and verdicts["renamed"] == "not loaded"


@pytest.mark.e2e
def test_gradescope_results_for_one_submission(tmp_path):
    results = tmp_path / "results.json"
    code = main(["grade", str(ASSIGNMENT), str(EXAMPLE / "students" / "bias_mean.ipynb"), "--out", str(tmp_path / "r"),
                 "--jobs", "1", "--gradescope", str(results)])
    assert code == 1
    data = json.loads(results.read_text())
    assert {t["name"] for t in data["tests"]} == {"forward", "gradient", "loss", "bias,depth>=2"}
    for test in data["tests"]:
        assert set(test) >= {"score", "max_score", "output", "visibility"} and 0 <= test["score"] <= test["max_score"]
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    gradient = next(t for t in data["tests"] if t["name"] == "gradient")
    assert gradient["score"] < gradient["max_score"] and "bias\\[" in gradient["output"]
    assert "**Why:**" in gradient["output"] and "```python" in gradient["output"] and data["test_output_format"] == "md"
    assert "feedback file" not in results.read_text()


def test_gradescope_refuses_several_submissions(tmp_path, capsys):
    code = main(["grade", str(ASSIGNMENT), str(EXAMPLE / "students"), "--out", str(tmp_path / "r"),
                 "--gradescope", str(tmp_path / "results.json")])
    assert code == 2 and "one submission" in capsys.readouterr().err


# ---- the autograder bundle -----------------------------------------------------------------

@pytest.mark.e2e
def test_autograder_bundle_grades_the_platforms_submission(tmp_path):
    root = tmp_path / "autograder"
    assert main(["autograder", str(ASSIGNMENT), "--out", str(root / "source")]) == 0
    setup = (root / "source" / "setup.sh").read_text()
    assert "bubblewrap" in setup and "download.pytorch.org/whl/cpu" in setup and "./backprop_conformance-" in setup
    (root / "submission").mkdir()
    shutil.copy(EXAMPLE / "students" / "seed.ipynb", root / "submission" / "homework4.ipynb")
    env = os.environ | {"CONFORMANCE_SOURCE": str(root / "source"), "CONFORMANCE_SUBMISSION": str(root / "submission"),
                        "CONFORMANCE_RESULTS": str(root / "results" / "results.json"),
                        "CONFORMANCE_PYTHON": sys.executable,
                        "PYTHONPATH": os.pathsep.join([str(HARNESS), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                         cwd=HARNESS, timeout=600)
    assert run.returncode == 0, run.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert 0 < data["score"] < 10 and "DOES NOT CONFORM" in data["output"]
    assert "# Feedback:" in run.stdout  # the student sees the feedback on the platform


@pytest.mark.e2e
def test_autograder_writes_a_results_file_when_grading_cannot(tmp_path):
    root = tmp_path / "autograder"
    assert main(["autograder", str(ASSIGNMENT), "--out", str(root / "source")]) == 0
    (root / "submission").mkdir()
    (root / "submission" / "notes.txt").write_text("I forgot the notebook")
    env = os.environ | {"CONFORMANCE_SOURCE": str(root / "source"), "CONFORMANCE_SUBMISSION": str(root / "submission"),
                        "CONFORMANCE_RESULTS": str(root / "results" / "results.json"),
                        "CONFORMANCE_PYTHON": sys.executable, "PYTHONPATH": str(HARNESS)}
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                         cwd=HARNESS, timeout=600)
    assert run.returncode == 0
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0 and "holds no notebook" in data["output"]


# ---- what the worked example requires ----------------------------------------------------

def _sheet4_plan(cases):
    """The plan the worked example's assignment gives, from its capabilities (no worker)."""
    from conformance.examples.assignment_004.assignment import Sheet4
    from conformance.running.planned import Plan

    return Plan("sheet4", "", Sheet4.capabilities,
                tuple((c.id, Sheet4.capabilities.why_not(c.spec, c.batch, c.dtype)) for c in cases))


@pytest.mark.parametrize("quick", [pytest.param(True, id="on the quick grid"),
                                   pytest.param(False, id="on the full grid")])
def test_the_worked_example_can_meet_its_require(quick):
    from conformance.cases.grid import default_grid
    from conformance.grading.instructor import shortfall

    cases = default_grid(quick=quick)
    assert shortfall(read_settings(ASSIGNMENT), _sheet4_plan(cases), cases) is None


def test_a_require_the_assignment_cannot_take_is_still_a_shortfall(tmp_path):
    from conformance.cases.grid import default_grid
    from conformance.grading.instructor import shortfall

    path = tmp_path / "assignment.py"
    path.write_text(ASSIGNMENT.read_text().replace('REQUIRE = "bias,sigmoid,', 'REQUIRE = "bias,relu,'))
    cases = default_grid(quick=True)
    said = shortfall(read_settings(path), _sheet4_plan(cases), cases)
    assert said is not None and "every submission will be incomplete" in said and "relu" in said


def test_a_depth_range_asks_for_the_depths_the_assignment_takes_and_only_those():
    from conformance.cases.grid import default_grid
    from conformance.judge.coverage import Requirement

    cases = default_grid(quick=True)
    requirement = read_settings(ASSIGNMENT).require
    taken = set(_sheet4_plan(cases).applicable())
    every = requirement.combinations(cases)
    graded = requirement.combinations(cases, taken)
    assert set(graded) < set(every)  # the quick grid has a depth whose only such cases have a sigmoid output
    assert all(any(c.id in taken for c in members) for members in graded.values())
    assert {key for key, members in every.items() if any(c.id in taken for c in members)} == set(graded)
    assert Requirement.parse("relu,depth>=2").combinations(cases, taken) == Requirement.parse(
        "relu,depth>=2").combinations(cases)  # a named value the assignment cannot take stays required


@pytest.mark.e2e
def test_a_correct_student_of_the_worked_example_gets_full_marks_on_the_quick_grid(tmp_path):
    out = tmp_path / "report"
    assert main(["grade", str(ASSIGNMENT), str(EXAMPLE / "students" / "correct.ipynb"), "--out", str(out),
                 "--quick", "--jobs", "1"]) == 0
    [student] = pd.read_csv(out / "grades.csv").to_dict("records")
    assert student["verdict"] == "pass" and student["score"] == student["max"] == read_settings(ASSIGNMENT).max_score


@pytest.mark.parametrize("defined, missing", [
    pytest.param(API, (), id="a submission defining the whole API is handed to the assignment's adapter"),
    pytest.param(API[:2], API[2:], id="a submission missing part of the API is one error naming each part"),
])
def test_an_assignment_loads_the_submission_and_asks_it_for_the_api(tmp_path, defined, missing):
    """What the worker does with an assignment and a submission (here in this process, on a
    trusted file): the assignment's adapter first, then the submission, checked for the names
    the sheet asks for."""
    from conformance.running.loading import Locator, load
    from conformance.running.modules import LoadError

    student = tmp_path / "student.py"
    student.write_text("".join(f"{name} = object()\n" for name in defined))
    locator = Locator("assignment", str(ASSIGNMENT), submission=str(student), api=API)
    if missing:
        with pytest.raises(LoadError, match=f"student.py does not define {', '.join(missing)}, which the assignment"):
            load(locator)
    else:
        assert set(API) <= set(vars(load(locator).cls.submission))


def test_an_assignment_alone_loads_without_a_submission():
    """The worker that reads an assignment's settings loads it with no submission: its adapter,
    told so by a ``submission`` of None (here in this process, on a trusted file)."""
    from conformance.running.loading import Locator, load

    loaded = load(Locator("assignment", str(ASSIGNMENT), submission=None, api=API))
    assert loaded.cls.submission is None and loaded.notes == ()
