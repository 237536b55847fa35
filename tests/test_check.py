"""``conformance check`` as a student, an instructor with a folder of submissions, or an
engineer uses it: a verdict per check family, each failure's tensor, worst element and
cause, one summary row per target, bad targets as one line, and exit codes that say it all.

Most tests read the session's one checked folder (``checked`` in ``conftest.py``: a correct
plug-in, a doubled gradient, one that raises, one with a syntax error, a transposed
gradient and one that supports nothing, on the pinned cases); the whole quick grid is
checked once, in the end-to-end tier."""

import re
from collections import Counter
import shutil
import xml.etree.ElementTree as ET

import pytest

from conformance import api, check, cli
from conformance.cases.layers import SequenceSpec
from conformance.cases.spec import NetworkSpec
from conformance.cases.grid import default_grid
from conformance.examples import numpy_mlp
from conformance.judge.expectations import Expectation
from tests.faulty.sources import DOUBLED, NARROW, RAISES, line_of
from tests.helpers import EXAMPLE, PINNED, captured, csv, fresh_python

MLP_CASES = [c for c in PINNED if isinstance(c.spec, NetworkSpec)]
LAYER_CASES = [c for c in PINNED if isinstance(c.spec, SequenceSpec)]
#: A test (or parameter) that starts a worker of its own belongs to the end-to-end tier.
WORKER = pytest.mark.e2e


def run_check(*targets, out, cases=PINNED, expectations=None, **options) -> tuple[int, str, str]:
    """``conformance check --no-timing`` on the pinned cases (timing is tested through the command line)."""
    return captured(check.command, [str(t) for t in targets], out=out, cases=list(cases),
                    options=api.Options(timing=False, expectations=expectations), **options)


def test_a_correct_implementation_conforms_with_a_pass_per_check_family(checked):
    ran = [c for c in MLP_CASES if c.mode in ("vjp", "mse")]
    block = checked.block("alice.py")
    assert f"numpy_mlp ({checked.folder / 'alice.py'}): conforms — {len(ran)} of {len(PINNED)} cases ran" in block
    assert "forward pass · gradient pass · loss pass · fd_directional pass · fd_entry pass · contract pass" in block
    by_loss = {loss: sum(c.mode == loss for c in PINNED) for loss in ("sse", "softmax_cross_entropy")}
    assert (f"not applicable: {len(PINNED) - len(ran)} of {len(PINNED)} cases — no layer-sequence networks "
            f"(declares no layer kinds) ({len(LAYER_CASES)}); no sse loss (has: mse) ({by_loss['sse']}); "
            f"no softmax_cross_entropy loss (has: mse) ({by_loss['softmax_cross_entropy']})") in block


def test_a_wrong_gradient_names_the_tensor_worst_element_both_values_and_tolerance(checked):
    block = checked.block("bob.py")
    assert "DOES NOT CONFORM" in block and f"gradient FAIL {len(MLP_CASES)}" in block and "forward pass" in block
    (problem,) = [line for line in block.splitlines() if line.startswith("  gradient FAIL in")]
    assert "weight[0][" in problem and ": got " in problem and ", PyTorch " in problem
    assert "exceeds tolerance" in problem


def test_a_layout_mistake_is_listed_once_saying_what_the_contract_expects(checked):
    problems = [line for line in checked.block("erin.py").splitlines() if "FAIL in" in line]
    said = r"backward returned weight\[0\] of shape \((\d), (\d)\); the contract expects \(n_out, n_in\) = \(\2, \1\): "
    assert any(re.search(said + "transpose it in your adapter", line) for line in problems), problems
    # listed again as a wrong value only where the transpose has the right shape: a square first layer
    wrong_values = [line for line in problems if line.startswith("  gradient FAIL") and ": weight[0][" in line]
    assert all(re.search(r"e\.g\. \dlayer-(\d)\.\1[.-]", line) for line in wrong_values), wrong_values


def test_an_implementation_that_raises_is_an_error_naming_its_own_line(checked):
    block = checked.block("carol.py")
    assert "ERRORS" in block and f"case error in {len(MLP_CASES)} cases" in block
    line = line_of(RAISES, "raise ValueError")
    assert f"ValueError: shapes (4,2) and (3,4) not aligned (at carol.py:{line} in backward)" in block


def test_an_implementation_no_case_applies_to_is_not_a_pass(checked):
    block = checked.block("frank.py")
    assert "NOTHING RAN: no case of the grid applies to it" in block
    assert f"not applicable: {len(PINNED)} of {len(PINNED)} cases — " in block and "outside 5..any" in block


@pytest.mark.parametrize("source, code", [
    pytest.param(None, 0, id="a correct plug-in exits 0", marks=WORKER),
    pytest.param(DOUBLED, 1, id="a wrong gradient exits 1", marks=WORKER),
    pytest.param(RAISES, 1, id="an implementation that raises exits 1", marks=WORKER),
    pytest.param(NARROW, 1, id="an implementation no case applies to exits 1", marks=WORKER),
])
def test_the_exit_code_of_one_target_says_how_it_went(tmp_path, source, code):
    target = tmp_path / "mine.py"
    shutil.copy(EXAMPLE, target) if source is None else target.write_text(source)
    assert run_check(target, out=tmp_path / "report", cases=PINNED[:1])[0] == code


@WORKER
def test_recorded_known_defects_alone_exit_0_and_are_named(tmp_path):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    target = str(tmp_path / "doubled.py")  # a target's known defects are named by the name it is given
    known = (Expectation(target, "*", "weight[[]0]", "first weight gradient doubled"),
             Expectation(target, "*", "[*]", "first weight gradient doubled (seen along every direction)"))
    # float64 only: in float32 a doubled first layer of a deep sigmoid network can hide in the
    # rounding of a directional finite difference, so "seen along every direction" is not true there
    float64 = [case for case in MLP_CASES if case.dtype == "float64"]
    code, out, _ = run_check(tmp_path / "doubled.py", out=tmp_path / "report", expectations=known, cases=float64)
    assert code == 0
    assert "conforms apart from its recorded known defects" in out and f"gradient known {len(float64)}" in out
    assert f"known defects in {len(float64)} cases: first weight gradient doubled" in out


@pytest.mark.parametrize("name, text, message", [
    pytest.param("gone.py", None, "no such file: {dir}/gone.py", id="a missing file"),
    pytest.param("helpers.py", "def helper():\n    return 1\n", "{dir}/helpers.py defines no adapter",
                 id="a file with no adapter", marks=WORKER),
    pytest.param("two.py", DOUBLED + "\n\nclass Tripled(Doubled):\n    pass\n",
                 "{dir}/two.py defines several adapters (Doubled, Tripled); name one as {dir}/two.py:Doubled",
                 id="a file with two adapters", marks=WORKER),
    pytest.param("typo.py", "def f(:\n", "syntax error in {dir}/typo.py, line 1", id="a syntax error", marks=WORKER),
])
def test_a_bad_target_is_one_line_on_stderr_exit_2_and_no_report(tmp_path, monkeypatch, capsys, name, text, message):
    """Through the command line: ``conformance check <target>``."""
    monkeypatch.chdir(tmp_path)
    if text is not None:
        (tmp_path / name).write_text(text)
    code = cli.main(["check", str(tmp_path / name), "--out", str(tmp_path / "report")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("conformance check: error: " + message.format(dir=tmp_path))
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "report").exists()


def test_a_folder_of_submissions_gives_one_row_per_submission_and_goes_on_past_a_bad_one(checked):
    dave = checked.folder / "dave.py"
    assert checked.code == 2
    assert checked.err == f"conformance check: error: syntax error in {dave}, line 3: expected ':'\n"
    table = checked.out[checked.out.index("target "):].splitlines()
    rows = {line.split()[0]: line for line in table[1:7]}
    assert re.search(r"numpy_mlp +pass", rows[str(checked.folder / "alice.py")])
    assert re.search(rf"doubled +fail .*FAIL {len(MLP_CASES)}", rows[str(checked.folder / "bob.py")])
    assert re.search(r"raises +error", rows[str(checked.folder / "carol.py")])
    assert "not loaded" in rows[str(dave)] and rows[str(dave)].endswith("expected ':'")
    graded = csv(checked.report, "targets.csv")
    assert list(graded["verdict"]) == ["pass", "fail", "error", "not loaded", "fail", "nothing ran"]
    assert graded["reason"].iloc[3].startswith("syntax error in")
    results, skipped = csv(checked.report, "results.csv"), csv(checked.report, "not_applicable.csv")
    loaded = {"alice.py", "bob.py", "carol.py", "erin.py", "frank.py"}
    assert set(results["implementation"]) | set(skipped["implementation"]) == {str(checked.folder / name)
                                                                              for name in loaded}
    assert str(checked.folder / "frank.py") not in set(results["implementation"])  # no case of it applied


def test_a_submission_that_cannot_be_loaded_is_an_errored_test_case_in_the_junit_file(checked):
    suites = {s.get("name"): s for s in ET.parse(checked.report.parent / "results.xml").getroot()}
    dave = suites[str(checked.folder / "dave.py")]
    assert [c.get("name") for c in dave] == ["load"] and dave.get("errors") == "1"
    assert "syntax error in" in dave.find("testcase/error").get("message")
    assert str(checked.folder / "carol.py") in suites


@pytest.mark.e2e  # workers of their own
def test_a_glob_of_submissions_is_checked_like_the_folder(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "alice.py")
    (folder / "bob.py").write_text(DOUBLED)
    (folder / "carol.py").write_text(RAISES)
    code, _, _ = run_check(folder / "[ab]*.py", out=tmp_path / "report", cases=PINNED[:1])
    assert code == 1
    assert list(csv(tmp_path / "report", "targets.csv")["target"]) == [str(folder / "alice.py"),
                                                                       str(folder / "bob.py")]


@pytest.mark.e2e  # workers of their own
def test_submissions_with_one_adapter_name_keep_their_own_rows(tmp_path):
    for student in ("alice", "bob"):
        (tmp_path / student).mkdir()
        shutil.copy(EXAMPLE, tmp_path / student / "adapter.py")
    code, _, _ = run_check(tmp_path / "alice", tmp_path / "bob", out=tmp_path / "report", cases=PINNED[:2])
    results = csv(tmp_path / "report", "results.csv")
    assert code == 0
    assert sorted(set(results["implementation"])) == [str(tmp_path / s / "adapter.py") for s in ("alice", "bob")]


@pytest.mark.e2e  # workers of their own
def test_each_submission_runs_with_the_module_next_to_it_in_its_worker(tmp_path):
    for student, factor in (("alice", 1), ("bob", 2)):
        (tmp_path / student).mkdir()
        (tmp_path / student / "impl.py").write_text(f"FACTOR = {factor}\n")
        (tmp_path / student / "adapter.py").write_text(
            "from conformance import Gradients\n"
            "from conformance.implementations.reference_numpy import ReferenceNumpy\n"
            "from impl import FACTOR\n\n\nclass Scaled(ReferenceNumpy):\n"
            "    def backward(self, grad_output):\n        g = super().backward(grad_output)\n"
            "        return Gradients(g.input, tuple(FACTOR * w for w in g.weights), g.biases)\n"
        )
    code, out, _ = run_check(tmp_path / "alice", tmp_path / "bob", out=tmp_path / "report", cases=PINNED[:2])
    verdicts = csv(tmp_path / "report", "targets.csv")["verdict"]
    assert code == 1 and list(verdicts) == ["pass", "fail"], out


@pytest.mark.e2e
def test_the_whole_quick_grid_counts_what_ran_and_what_did_not_apply_and_why(tmp_path):
    grid = default_grid(quick=True)
    declared = numpy_mlp.NumpyMLPAdapter.capabilities
    reasons = Counter(declared.why_not(c.spec, c.batch, c.dtype) for c in grid)
    ran = reasons.pop(None)
    code, out, err = captured(check.command, [str(EXAMPLE)], quick=True, out=tmp_path / "report",
                              options=api.Options(timing=False))
    assert (code, err) == (0, "")
    assert f"numpy_mlp ({EXAMPLE}): conforms — {ran} of {len(grid)} cases ran" in out
    shown = "; ".join(f"{reason} ({n})" for reason, n in reasons.most_common(3))  # the three commonest
    assert f"not applicable: {len(grid) - ran} of {len(grid)} cases — {shown}" in out
    assert len(reasons) <= 3 or f"; {len(reasons) - 3} more reason" in out


# ---- through the command line ------------------------------------------------------------

@pytest.mark.e2e
def test_the_command_is_one_line_and_no_traceback_in_a_fresh_process(tmp_path):
    (tmp_path / "typo.py").write_text("from conformance import Adapter\n\nclass Mine(Adapter)\n")
    run = fresh_python("-m", "conformance", "check", "typo.py", cwd=tmp_path, timeout=300)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == "conformance check: error: syntax error in typo.py, line 3: expected ':'\n"


@pytest.mark.e2e
def test_the_command_checks_the_example_and_writes_the_full_report_with_timings(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # a budget a loaded machine still times something in (by default it is sized for a quiet one)
    assert cli.main(["check", str(EXAMPLE), "--quick", "--timing-budget", "120"]) == 0
    out, _ = capsys.readouterr()
    assert "numpy_mlp" in out and "conforms" in out
    written = {p.name for p in (tmp_path / "reports").iterdir()}
    assert {"results.csv", "timings.csv", "summary.md", "report.html", "targets.csv"} <= written
    timings = csv(tmp_path / "reports", "timings.csv")
    timed = timings["torch_median_s"] != ""
    assert set(timings["implementation"]) == {str(EXAMPLE)} and timed.any()
    assert (timings.loc[timed, "torch_median_s"].astype(float) > 0).all()
    assert (timings.loc[timed, "median_s"].astype(float) > 0).all()
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
