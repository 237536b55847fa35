"""``conformance check`` as a student, an instructor with a folder of submissions, or an
engineer uses it: a verdict per check family, each failure's tensor, worst element and
cause, one summary row per target, bad targets as one line, and exit codes that say it all."""

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conformance import api, check, cli
from conformance.judge.expectations import Expectation
from conformance.cases.spec import default_grid
from tests.faulty.sources import DOUBLED, NARROW, RAISES, TRANSPOSED

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "numpy_mlp.py"


def run_check(*targets, out: Path, **options) -> tuple[int, str, str]:
    """``conformance check --quick --no-timing`` (timing is tested through the command line)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = check.command([str(t) for t in targets], quick=True, out=out, options=api.Options(timing=False),
                         stdout=stdout, stderr=stderr, **options)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture
def subs(tmp_path) -> Path:
    """An instructor's folder of submissions: one right, one wrong, one that crashes, one with a typo."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "alice.py")
    (folder / "bob.py").write_text(DOUBLED)
    (folder / "carol.py").write_text(RAISES)
    (folder / "dave.py").write_text("from conformance import Adapter\n\nclass Dave(Adapter)\n    pass\n")
    return folder


def test_a_correct_implementation_conforms_with_a_pass_per_check_family_and_exits_0(tmp_path):
    code, out, err = run_check(EXAMPLE, out=tmp_path / "report")
    assert (code, err) == (0, "")
    assert f"numpy_mlp ({EXAMPLE}): conforms — 392 of 688 cases ran" in out
    assert "forward pass · gradient pass · loss pass · fd_directional pass · fd_entry pass · contract pass" in out
    assert ("not applicable: 296 of 688 cases — no layer-sequence networks (declares no layer kinds) (72); "
            "no sse loss (has: mse) (56)") in out


def test_a_wrong_gradient_names_the_tensor_worst_element_both_values_and_tolerance_and_exits_1(tmp_path):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    code, out, _ = run_check(tmp_path / "doubled.py", out=tmp_path / "report")
    assert code == 1
    assert "DOES NOT CONFORM" in out and "gradient FAIL 616" in out and "forward pass" in out
    (problem,) = [line for line in out.splitlines() if line.startswith("  gradient FAIL in")]
    assert "weight[0][" in problem and ": got " in problem and ", PyTorch " in problem and "exceeds tolerance" in problem


def test_a_layout_mistake_is_listed_once_saying_what_the_contract_expects(tmp_path):
    (tmp_path / "transposed.py").write_text(TRANSPOSED)
    _, out, _ = run_check(tmp_path / "transposed.py", out=tmp_path / "report")
    problems = [line for line in out.splitlines() if "FAIL in" in line]
    said = r"backward returned weight\[0\] of shape \((\d), (\d)\); the contract expects \(n_out, n_in\) = \(\2, \1\): "
    assert any(re.search(said + "transpose it in your adapter", line) for line in problems), problems
    # listed again as a wrong value only where the transpose has the right shape: a square first layer
    wrong_values = [line for line in problems if line.startswith("  gradient FAIL") and ": weight[0][" in line]
    assert all(re.search(r"e\.g\. \dlayer-(\d)\.\1[.-]", line) for line in wrong_values), wrong_values


def test_an_implementation_that_raises_is_an_error_naming_its_own_line_and_exits_1(tmp_path):
    (tmp_path / "raises.py").write_text(RAISES)
    code, out, _ = run_check(tmp_path / "raises.py", out=tmp_path / "report")
    assert code == 1 and "ERRORS" in out
    assert "case error in 616 cases" in out
    assert "ValueError: shapes (4,2) and (3,4) not aligned (at raises.py:8 in backward)" in out


def test_an_implementation_no_case_applies_to_is_not_a_pass(tmp_path):
    (tmp_path / "narrow.py").write_text(NARROW)
    code, out, _ = run_check(tmp_path / "narrow.py", out=tmp_path / "report")
    assert code == 1 and "NOTHING RAN: no case of the grid applies to it" in out
    assert "not applicable: 688 of 688 cases — depth 2 outside 5..any (112)" in out


def test_recorded_known_defects_alone_exit_0_and_are_named(tmp_path):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    target = str(tmp_path / "doubled.py")  # a target's known defects are named by the name it is given
    known = (Expectation(target, "*", "weight[[]0]", "first weight gradient doubled"),
             Expectation(target, "*", "[*]", "first weight gradient doubled (seen along every direction)"))
    # float64 only: in float32 a doubled first layer of a deep sigmoid network can hide in the
    # rounding of a directional finite difference, so "seen along every direction" is not true there
    float64 = [case for case in default_grid(quick=True) if case.dtype == "float64"]
    code, out, _ = run_check(tmp_path / "doubled.py", out=tmp_path / "report", expectations=known, cases=float64)
    assert code == 0
    assert "conforms apart from its recorded known defects" in out and "gradient known 308" in out
    assert "known defects in 308 cases: first weight gradient doubled" in out


@pytest.mark.parametrize("name, text, message", [
    ("gone.py", None, "no such file: {dir}/gone.py"),
    ("helpers.py", "def helper():\n    return 1\n", "{dir}/helpers.py defines no adapter"),
    ("two.py", DOUBLED + "\n\nclass Tripled(Doubled):\n    pass\n",
     "{dir}/two.py defines several adapters (Doubled, Tripled); name one as {dir}/two.py:Doubled"),
    ("typo.py", "def f(:\n", "syntax error in {dir}/typo.py, line 1"),
])
def test_a_bad_target_is_one_line_on_stderr_exit_2_and_no_report(tmp_path, name, text, message):
    if text is not None:
        (tmp_path / name).write_text(text)
    code, out, err = run_check(tmp_path / name, out=tmp_path / "report")
    assert code == 2 and out == ""
    assert err.startswith("conformance check: error: " + message.format(dir=tmp_path))
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "report").exists()


def test_a_folder_of_submissions_gives_one_row_per_submission_and_goes_on_past_a_bad_one(tmp_path, subs):
    code, out, err = run_check(subs, out=tmp_path / "report")
    assert code == 2
    assert err == f"conformance check: error: syntax error in {subs / 'dave.py'}, line 3: expected ':'\n"
    table = out[out.index("target "):].splitlines()
    rows = {line.split()[0]: line for line in table[1:5]}
    assert re.search(r"numpy_mlp +pass", rows[str(subs / "alice.py")])
    assert re.search(r"doubled +fail .*FAIL 616", rows[str(subs / "bob.py")])
    assert re.search(r"raises +error", rows[str(subs / "carol.py")])
    assert "not loaded" in rows[str(subs / "dave.py")] and rows[str(subs / "dave.py")].endswith("expected ':'")
    graded = pd.read_csv(tmp_path / "report" / "targets.csv")
    assert list(graded["verdict"]) == ["pass", "fail", "error", "not loaded"]
    assert graded["reason"].iloc[3].startswith("syntax error in")
    results = pd.read_csv(tmp_path / "report" / "results.csv")
    assert set(results["implementation"]) == {str(subs / name) for name in ("alice.py", "bob.py", "carol.py")}


def test_a_submission_that_cannot_be_loaded_is_an_errored_test_case_in_the_junit_file(tmp_path, subs):
    import xml.etree.ElementTree as ET

    code, _, _ = run_check(subs / "[cd]*.py", out=tmp_path / "report", junit_xml=tmp_path / "results.xml")
    assert code == 2
    suites = {s.get("name"): s for s in ET.parse(tmp_path / "results.xml").getroot()}
    dave = suites[str(subs / "dave.py")]
    assert [c.get("name") for c in dave] == ["load"] and dave.get("errors") == "1"
    assert "syntax error in" in dave.find("testcase/error").get("message")
    assert str(subs / "carol.py") in suites


def test_a_glob_of_submissions_is_checked_like_the_folder(tmp_path, subs):
    code, out, _ = run_check(subs / "[ab]*.py", out=tmp_path / "report")
    assert code == 1
    assert list(pd.read_csv(tmp_path / "report" / "targets.csv")["target"]) == [str(subs / "alice.py"),
                                                                                str(subs / "bob.py")]


def test_submissions_with_one_adapter_name_keep_their_own_rows(tmp_path):
    for student in ("alice", "bob"):
        (tmp_path / student).mkdir()
        shutil.copy(EXAMPLE, tmp_path / student / "adapter.py")
    code, _, _ = run_check(tmp_path / "alice", tmp_path / "bob", out=tmp_path / "report")
    results = pd.read_csv(tmp_path / "report" / "results.csv")
    assert code == 0
    assert sorted(set(results["implementation"])) == [str(tmp_path / s / "adapter.py") for s in ("alice", "bob")]


def test_each_submission_runs_with_the_module_next_to_it_in_its_worker(tmp_path):
    for student, factor in (("alice", 1), ("bob", 2)):
        (tmp_path / student).mkdir()
        (tmp_path / student / "impl.py").write_text(f"FACTOR = {factor}\n")
        (tmp_path / student / "adapter.py").write_text(
            "from conformance import Gradients\nfrom conformance.implementations.reference_numpy import ReferenceNumpy\n"
            "from impl import FACTOR\n\n\nclass Scaled(ReferenceNumpy):\n"
            "    def backward(self, grad_output):\n        g = super().backward(grad_output)\n"
            "        return Gradients(g.input, tuple(FACTOR * w for w in g.weights), g.biases)\n"
        )
    code, out, _ = run_check(tmp_path / "alice", tmp_path / "bob", out=tmp_path / "report")
    verdicts = pd.read_csv(tmp_path / "report" / "targets.csv")["verdict"]
    assert code == 1 and list(verdicts) == ["pass", "fail"], out


# ---- through the command line ------------------------------------------------------------

@pytest.mark.parametrize("name, text", [
    ("gone.py", None),
    ("helpers.py", "def helper():\n    return 1\n"),
    ("two.py", DOUBLED + "\n\nclass Tripled(Doubled):\n    pass\n"),
    ("typo.py", "def f(:\n"),
])
def test_the_command_gives_a_bad_target_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys, name, text):
    monkeypatch.chdir(tmp_path)
    if text is not None:
        (tmp_path / name).write_text(text)
    assert cli.main(["check", name]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("conformance check: error: ") and err.count("\n") == 1


def test_the_command_is_one_line_and_no_traceback_in_a_fresh_process(tmp_path):
    (tmp_path / "typo.py").write_text("from conformance import Adapter\n\nclass Mine(Adapter)\n")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "conformance", "check", "typo.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == "conformance check: error: syntax error in typo.py, line 3: expected ':'\n"


def test_the_command_checks_the_example_and_writes_the_full_report_with_timings(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", str(EXAMPLE), "--quick"]) == 0
    out, _ = capsys.readouterr()
    assert "numpy_mlp" in out and "conforms" in out
    written = {p.name for p in (tmp_path / "reports").iterdir()}
    assert {"results.csv", "timings.csv", "summary.md", "report.html", "targets.csv"} <= written
    timings = pd.read_csv(tmp_path / "reports" / "timings.csv")
    timed = timings["torch_median_s"].notna()
    assert set(timings["implementation"]) == {str(EXAMPLE)} and timed.any()
    assert (timings.loc[timed, "torch_median_s"] > 0).all() and (timings.loc[timed, "median_s"] > 0).all()
    # what the timing budget left out says so (the narrowest networks are timed first)
    assert all(str(detail).startswith("not timed: the timing budget") for detail in timings.loc[~timed, "detail"])


def test_new_writes_the_template_and_then_refuses_to_overwrite_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["new", "mine.py"]) == 0
    written = (tmp_path / "mine.py").read_text()
    assert cli.main(["new", "mine.py"]) == 2
    out, err = capsys.readouterr()
    assert out == "wrote mine.py: fill in the lines marked FILL IN, then run: conformance check mine.py\n"
    assert err == "conformance new: error: mine.py already exists; not overwriting it (choose another name)\n"
    assert (tmp_path / "mine.py").read_text() == written
