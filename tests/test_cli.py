"""The ``conformance`` command as a user meets it: exit codes that say whether everything is as
expected, one clear line for a bad argument, help on every verb, a report on disk, and
progress that suits where the output goes."""

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conformance import api, cli, execution
from conformance.cli import options, progress, suite
from conformance.cases import grid as spec_grid
from conformance.judge.results import COLUMNS
from conformance.cases.spec import Case, KINK_MARGIN, NetworkSpec
from tests.faulty.sources import DOUBLED

ROOT = Path(__file__).resolve().parent.parent

#: A grid small enough for a test, with a VJP case, a loss case, float32 and a ReLU.
SMALL_GRID = [
    Case(NetworkSpec.mlp([3, 4, 2], "tanh"), batch=4),
    Case(NetworkSpec.mlp([3, 4, 2], "relu", "identity", loss="half_mse"), batch=4, dtype="float32"),
    Case(NetworkSpec.mlp([3, 2], "sigmoid", bias=False), batch=1),
]


@pytest.fixture(autouse=True)
def small_grid(monkeypatch):
    def small(seed=0, quick=False):
        return [Case(c.spec, c.batch, c.dtype, seed) for c in SMALL_GRID]

    monkeypatch.setattr(api, "default_grid", small)
    real = spec_grid.grid
    monkeypatch.setattr(spec_grid, "grid", lambda choice=spec_grid.GridChoice(), seed=0, quick=False:
                        small(seed) if choice.default else real(choice, seed, quick))


def conformance(*argv: str, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.e2e
def test_run_exits_0_when_every_result_is_as_expected_and_writes_the_report(tmp_path, capsys):
    code, out, err = conformance("run", "--impl", "reference_numpy", "--no-timing", "--out", tmp_path, capsys=capsys)
    assert code == 0, out + err
    assert "reference_numpy  conforms  3/3" in out
    assert f"report: {tmp_path / 'summary.md'}" in out
    for name in ("results.csv", "timings.csv", "environment.json", "summary.md", "report.html"):
        assert (tmp_path / name).stat().st_size > 0
    results = pd.read_csv(tmp_path / "results.csv")
    assert list(results.columns) == list(COLUMNS)
    assert set(results["verdict"]) == {"pass"}
    summary = (tmp_path / "summary.md").read_text()
    assert f"generated ReLU pre-activations keep {KINK_MARGIN} from 0" in summary
    assert "## Finite-difference oracle accuracy" in summary
    accuracy = pd.read_csv(tmp_path / "fd_accuracy.csv")
    assert set(accuracy["dtype"]) == {"float64", "float32"} and accuracy["bound_held"].all()


@pytest.mark.e2e
def test_run_exits_1_on_a_wrong_gradient_and_says_which_tensor(tmp_path, capsys):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    code, out, _ = conformance("run", "--impl", tmp_path / "doubled.py", "--no-timing", "--out", tmp_path / "report",
                               capsys=capsys)
    assert code == 1
    assert f"{tmp_path / 'doubled.py'}: DOES NOT CONFORM" in out
    assert "gradient FAIL in 3 cases" in out and "weight[0][" in out and "exceeds tolerance" in out


@pytest.mark.e2e
def test_run_names_several_implementations_and_reports_each(tmp_path, capsys):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    code, out, _ = conformance("run", "--impl", "reference_numpy", tmp_path / "doubled.py", "--no-timing",
                               "--out", tmp_path / "report", capsys=capsys)
    assert code == 1
    implementations = set(pd.read_csv(tmp_path / "report" / "results.csv")["implementation"])
    assert implementations == {"reference_numpy", str(tmp_path / "doubled.py")}


@pytest.mark.parametrize("argv, message", [
    (["run", "--impl", "no_such_impl"], "conformance run: error: unknown implementation 'no_such_impl'"),
    (["run", "--jobs", "-2"], "conformance run: error: argument --jobs: --jobs must be at least 0, got -2"),
    (["run", "--jobs", "many"], "conformance run: error: argument --jobs: --jobs must be a whole number, got 'many'"),
    (["run", "--seed", "-1"], "conformance run: error: argument --seed: --seed must be at least 0, got -1"),
    (["run", "--colour"], "conformance run: error: unrecognized arguments: --colour (see conformance run --help)"),
    (["run", "--impl", "clas_layers"],
     "conformance run: error: unknown implementation 'clas_layers': did you mean 'class_layers'?"),
    (["run", "--impl", "nosuchdir/"], "conformance run: error: no such file or folder: nosuchdir/"),
    (["run", "--grid", "tiny"], "conformance run: error: argument --grid: invalid choice: 'tiny'"),
    (["run", "--junit-xml", "/no/such/folder/j.xml"], "conformance run: error: --junit-xml /no/such/folder/j.xml: "
                                                       "no such folder /no/such/folder"),
    (["frobnicate"], "conformance: error: argument COMMAND: invalid choice: 'frobnicate'"),
    ([], "conformance: error: the following arguments are required: COMMAND"),
])
def test_a_bad_argument_is_one_line_on_stderr_and_exit_code_2(tmp_path, capsys, argv, message):
    code, out, err = conformance(*argv, "--out", tmp_path / "report", capsys=capsys) if argv[:1] == ["run"] \
        else conformance(*argv, capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith(message), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "report").exists()


def test_an_output_folder_that_is_a_file_is_a_usage_error_before_anything_runs(tmp_path, capsys):
    (tmp_path / "taken").write_text("mine")
    code, out, err = conformance("run", "--out", tmp_path / "taken", capsys=capsys)
    assert (code, out) == (2, "")
    assert err == f"conformance run: error: {tmp_path / 'taken'} is a file, not a folder\n"
    assert (tmp_path / "taken").read_text() == "mine"


@pytest.mark.e2e
def test_a_users_own_summary_md_in_the_output_folder_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "summary.md").write_text("# My notes\n")
    code, _, err = conformance("run", "--impl", "reference_numpy", "--out", tmp_path, capsys=capsys)
    assert code == 2
    assert err.startswith(f"conformance run: error: {tmp_path} already holds summary.md not written by this suite")
    assert (tmp_path / "summary.md").read_text() == "# My notes\n"
    assert not (tmp_path / "results.csv").exists()


def test_every_verb_has_help(capsys):
    verbs = cli.build_parser()._subparsers._group_actions[0].choices
    assert {"run", "list"} <= set(verbs)
    for verb in verbs:
        with pytest.raises(SystemExit) as stop:
            cli.build_parser().parse_args([verb, "--help"])
        assert stop.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: conformance {verb}")


@pytest.mark.e2e  # loads every built-in in its worker
def test_list_shows_capabilities_and_known_defects_of_each_built_in(capsys):
    from conformance.running import targets as registry

    code, out, _ = conformance("list", capsys=capsys)
    assert code == 0
    for name in registry.builtin_names():
        block = out[out.index(f"{name}"):]
        assert "  supports: activations " in block
        assert "known defect" in block.split("\n\n")[0]
    assert "supports: activations identity,relu,tanh,sigmoid; output identity,relu,tanh,sigmoid; bias on/off" in out
    assert out.rstrip().splitlines()[-1].startswith("Grids (cases): full ")


def test_the_grid_sizes_list_prints_are_the_grids():
    from conformance.cases.grid import default_grid, smoke_grid
    from conformance.cases.spec import NetworkSpec
    from conformance.cli.tools import grid_sizes

    line = grid_sizes()
    for name, cases in (("full", default_grid()), ("quick", default_grid(quick=True)), ("smoke", smoke_grid())):
        mlps = sum(isinstance(c.spec, NetworkSpec) for c in cases)
        assert f"{name} {len(cases)} ({mlps} MLP, {len(cases) - mlps} layer-sequence)" in line, line


@pytest.mark.e2e
def test_progress_is_a_line_per_implementation_when_not_on_a_terminal(tmp_path, capsys):
    _, _, err = conformance("run", "--impl", "reference_numpy", "--no-timing", "--out", tmp_path, capsys=capsys)
    first, *rest = [line for line in err.splitlines() if " case runs done (" not in line]
    assert first == f"running 1 implementation on {len(SMALL_GRID)} cases"
    assert len(rest) == 1 and rest[0].startswith(f"reference_numpy: conforms — {len(SMALL_GRID)} cases in ")


def test_off_a_terminal_a_line_every_few_seconds_says_how_many_case_runs_are_done():
    stream, now = io.StringIO(), [0.0]
    lines = progress.LineProgress(stream, clock=lambda: now[0])
    lines.start(["a", "b"], 10)
    for step in range(20):
        now[0] = step * progress.EVERY_S / 4
        lines.case_done("a", step, [])
    said = stream.getvalue().splitlines()
    assert said[1:] == [f"{n} of 20 case runs done ({(n - 1) * progress.EVERY_S / 4:.0f} s)" for n in (5, 9, 13, 17)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_except_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert isinstance(progress.progress_for(Terminal()), progress.BarProgress)
    assert isinstance(progress.progress_for(io.StringIO()), progress.LineProgress)
    monkeypatch.setenv("CI", "true")
    assert isinstance(progress.progress_for(Terminal()), progress.LineProgress)


class CountedBar(progress.BarProgress):
    def finish(self):
        self.counted = (self.bar.desc, self.bar.n, self.bar.total)
        super().finish()


@pytest.mark.e2e
def test_the_progress_bar_counts_every_case_then_every_timed_case():
    bar = CountedBar(Terminal())
    report = api.run_suite(["reference_numpy"], options=api.Options(isolate=False, widths=(4,)), progress=bar)
    assert report.exit_code == 0
    assert bar.counted == ("timing reference_numpy", 3, 3)  # one network per depth and dtype of SMALL_GRID, at width 4
    assert "checking:" in bar.stream.getvalue()


@pytest.mark.e2e
def test_an_interrupted_run_writes_a_partial_report_of_the_finished_cases_and_exits_130(tmp_path, capsys,
                                                                                        monkeypatch):
    real = execution.run_each

    def interrupted_after_two_cases(*args, **kwargs):
        for number, item in enumerate(real(*args, **kwargs)):
            if number == 2:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(execution, "run_each", interrupted_after_two_cases)
    code, _, err = conformance("run", "--impl", "reference_numpy", "--jobs", "1", "--out", tmp_path, capsys=capsys)
    assert code == 130
    assert "interrupted; the report holds the cases that finished (2 of 3 implementation × case pairs)" in err
    assert pd.read_csv(tmp_path / "results.csv")["case"].nunique() == 2  # its one target had not finished
    assert "**PARTIAL REPORT**" in (tmp_path / "summary.md").read_text()


@pytest.mark.e2e
def test_the_installed_command_runs_as_python_dash_m_and_fails_cleanly_on_a_bad_name(tmp_path):
    done = subprocess.run([sys.executable, "-m", "conformance", "run", "--impl", "nope", "--out", tmp_path / "r"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("conformance run: error: unknown implementation 'nope'")
    assert done.stderr.count("\n") == 1


def test_an_output_folder_that_cannot_be_written_says_so(capsys):
    code, out, err = conformance("run", "--impl", "reference_numpy", "--out", "/proc", capsys=capsys)
    assert (code, out) == (2, "")
    assert err.startswith("conformance run: error: /proc cannot be written to") and err.count("\n") == 1


def test_check_of_a_missing_folder_says_there_is_no_such_file_or_folder(tmp_path, capsys):
    code, _, err = conformance("check", "nosuchdir/", "--out", tmp_path, capsys=capsys)
    assert code == 2 and err == "conformance check: error: no such file or folder: nosuchdir/\n"


def test_version_prints_the_installed_version(capsys):
    from importlib import metadata

    code, out, _ = conformance("--version", capsys=capsys)
    assert code == 0 and out == f"conformance {metadata.version('backprop-conformance')}\n"


@pytest.mark.e2e
def test_jobs_above_the_cores_warns_and_runs_as_many_as_there_are_cores(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(options, "cores", lambda: 2)
    seen = {}

    def noted(*args, options, **kwargs):  # stops the run once its options are known
        seen["jobs"] = options.jobs
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "run_suite", noted)
    _, _, err = conformance("run", "--impl", "reference_numpy", "--jobs", "64", "--out", tmp_path, capsys=capsys)
    assert seen["jobs"] == 2
    assert "warning: --jobs 64 is more than the 2 cores available; running 2 at once" in err
    conformance("run", "--impl", "reference_numpy", "--out", tmp_path, capsys=capsys)
    assert seen["jobs"] == 2  # the default: one per core


def test_grid_quick_and_quick_are_the_same_option():
    parse = cli.build_parser().parse_args
    assert parse(["run", "--grid", "quick"]).grid == parse(["run", "--quick"]).grid == "quick"
    assert parse(["check", "x.py"]).grid == "full"


def test_audit_help_states_the_audits_own_accuracy_bar(capsys):
    from conformance.audit.audit import ACCURACY_NEEDED

    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["audit", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"at least {ACCURACY_NEEDED:.0%} are diagnosed" in help_text and "%%" not in help_text


def test_new_example_writes_the_example_that_then_conforms(tmp_path, capsys):
    code, out, _ = conformance("new", "--example", "numpy_mlp", tmp_path / "x.py", capsys=capsys)
    assert code == 0 and (tmp_path / "x.py").read_text() == (ROOT / "conformance/examples/numpy_mlp.py").read_text()
    code, _, err = conformance("new", "--example", "numpy_mlp", tmp_path / "x.py", capsys=capsys)
    assert code == 2 and "already exists; not overwriting it" in err
    code, _, err = conformance("new", "--example", "nope", tmp_path / "y.py", capsys=capsys)
    assert code == 2
    folder = ROOT / "conformance/examples"
    shipped = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    shipped += sorted(p.parent.name for p in folder.glob("*/assignment.py"))
    assert err == f"conformance new: error: no example 'nope'; the examples are: {', '.join(shipped)}\n"


def test_new_example_writes_the_worked_assignment_folder(tmp_path, capsys):
    import nbformat

    from conformance.examples.assignment_004 import students

    package = ROOT / "conformance/examples/assignment_004"
    code, out, _ = conformance("new", "--example", "assignment_004", tmp_path / "sheet4", capsys=capsys)
    assert code == 0 and "grade assignment.py students/" in out, out
    assert (tmp_path / "sheet4/assignment.py").read_text() == (package / "assignment.py").read_text()
    def sources(folder: Path) -> dict:  # a cell's id is random; its source is the notebook
        return {p.name: [c.source for c in nbformat.read(str(p), as_version=4).cells] for p in folder.glob("*.ipynb")}

    written = sources(tmp_path / "sheet4/students")
    assert written == sources(package / "students")
    assert set(written) == {f"{name}.ipynb" for name in students.NOTEBOOKS}
    code, _, err = conformance("new", "--example", "assignment_004", tmp_path / "sheet4", capsys=capsys)
    assert code == 2 and err.count("\n") == 1 and "not an empty folder" in err, err


def test_the_class_generator_prints_its_usage_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from conformance.examples.assignment_004 import students

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        students.main(["--help"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("usage: ")
    assert not list(tmp_path.iterdir())


def _junit(path: Path):
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    return root, {suite.get("name"): suite for suite in root.iter("testsuite")}


@pytest.mark.e2e
def test_run_junit_xml_has_one_test_case_per_implementation_and_case_with_failures_carrying_the_message(
        tmp_path, capsys):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    code, _, _ = conformance("run", "--impl", "reference_numpy", tmp_path / "doubled.py", "--no-timing",
                             "--out", tmp_path / "report", "--junit-xml", tmp_path / "verdicts.xml", capsys=capsys)
    assert code == 1
    root, suites = _junit(tmp_path / "verdicts.xml")
    assert set(suites) == {"reference_numpy", str(tmp_path / "doubled.py")}
    assert root.get("tests") == str(2 * len(SMALL_GRID)) and all(s.get("tests") == "3" for s in suites.values())
    assert suites["reference_numpy"].get("failures") == "0"
    failures = suites[str(tmp_path / "doubled.py")].findall("testcase/failure")
    assert suites[str(tmp_path / "doubled.py")].get("failures") == str(len(failures)) == "3"
    assert all("weight[0]" in f.get("message") and "tolerance" in f.get("message") for f in failures)
    assert {c.get("name") for c in suites[str(tmp_path / "doubled.py")]} == {c.id for c in SMALL_GRID}


@pytest.mark.e2e
def test_check_junit_xml_skips_the_cases_that_do_not_apply(tmp_path, capsys, monkeypatch):
    from conformance.cases.grid import default_grid

    monkeypatch.undo()  # the whole quick grid, not this module's small one

    target = ROOT / "examples" / "numpy_mlp.py"
    code, out, err = conformance("check", target, "--quick", "--no-timing", "--out", tmp_path,
                             "--junit-xml", tmp_path / "j.xml", capsys=capsys)
    assert code == 0, out + err
    root, suites = _junit(tmp_path / "j.xml")
    grid = len(default_grid(quick=True))
    assert root.get("tests") == str(grid) and root.get("failures") == "0" and root.get("errors") == "0"
    skipped = suites[str(target)].findall("testcase/skipped")
    assert 0 < len(skipped) < grid and all(s.get("message").startswith("not applicable: ") for s in skipped)


@pytest.mark.e2e
def test_grid_options_choose_the_cases_and_the_headline_says_how_long_it_all_took(tmp_path, capsys):
    code, out, _ = conformance("run", "--impl", "reference_numpy", "--no-timing", "--out", tmp_path,
                               "--widths", "3-2", "--batch", "2", "--dtype", "float64", "--loss", "vjp",
                               "--activation", "tanh", capsys=capsys)
    assert code == 0
    assert out.startswith("conformance run: 1 implementation, 2 cases in ") and "no timing" in out.splitlines()[0]
    assert set(pd.read_csv(tmp_path / "results.csv")["case"]) == {
        "1layer-3.2-tanh-bias-b2-float64-vjp", "1layer-3.2-tanh-nobias-b2-float64-vjp"}


@pytest.mark.parametrize("argv, message", [
    (["--dtype", "float16"], "--dtype: unknown value 'float16'; valid: float64, float32"),
    (["--loss", "svm"], "--loss: unknown value 'svm'; valid: vjp, sse, half_sse, mse, half_mse, softmax_cross_entropy, "
                          "binary_cross_entropy, hinge"),
    (["--activation", "gelu"], "--activation: unknown value 'gelu'; valid: identity, relu, tanh, sigmoid"),
    (["--batch", "0"], "--batch: '0' is not a whole number of at least 1"),
    (["--depth", "two"], "--depth: 'two' is not a whole number of at least 1"),
    (["--widths", "3"], "--widths: '3' is not a network's widths; valid: at least two whole numbers"),
    (["--depth", "9"], "the grid options leave no case (--depth 9)"),
    (["--timing-budget", "soon"], "argument --timing-budget: --timing-budget must be a number of seconds"),
])
@pytest.mark.parametrize("verb", ["run", "check"])
def test_a_bad_grid_option_is_one_line_naming_the_valid_values(tmp_path, capsys, verb, argv, message):
    target = ["--impl", "reference_numpy"] if verb == "run" else ["reference_numpy"]
    code, out, err = conformance(verb, *target, *argv, "--out", tmp_path / "report", capsys=capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"conformance {verb}: error: {message}"), err
    assert err.count("\n") == 1 and not (tmp_path / "report").exists()


@pytest.mark.e2e
def test_a_pyproject_table_chooses_the_grid_and_the_command_line_wins(tmp_path, capsys, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.conformance]\nwidths = ["3-2"]\nbatch = [2]\n'
                                             'dtype = "float32"\nloss = ["vjp"]\nactivation = "relu,tanh"\n')
    monkeypatch.chdir(tmp_path)
    code, _, _ = conformance("run", "--impl", "reference_numpy", "--no-timing", "--out", tmp_path / "r",
                             "--activation", "tanh", capsys=capsys)
    assert code == 0
    assert set(pd.read_csv(tmp_path / "r" / "results.csv")["case"]) == {
        "1layer-3.2-tanh-bias-b2-float32-vjp", "1layer-3.2-tanh-nobias-b2-float32-vjp"}


def test_an_unknown_pyproject_key_is_one_line_naming_the_valid_keys(tmp_path, capsys, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.conformance]\nlosses = ['mse']\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = conformance("run", "--out", tmp_path / "r", capsys=capsys)
    assert code == 2
    assert err == ("conformance run: error: pyproject.toml [tool.conformance]: unknown key 'losses'; "
                   "valid: widths, batch, depth, dtype, loss, activation\n")


@pytest.mark.e2e
def test_timing_is_announced_with_its_budget_and_progress_and_zero_skips_it(tmp_path, capsys):
    code, out, err = conformance("run", "--impl", "reference_numpy", "--timing-budget", "30", "--out", tmp_path,
                                 capsys=capsys)
    assert code == 0
    lines = err.splitlines()
    announced = lines.index("timing 1 implementation next to PyTorch, for up to 30 s in all "
                            "(--timing-budget S to change, --no-timing to skip)")
    assert lines[announced + 1] == "reference_numpy: timing up to 9 cases next to PyTorch"
    assert lines[announced + 2].startswith("reference_numpy: timed ")
    assert "timing " in out.splitlines()[0] and "(budget 30 s)" in out.splitlines()[0]
    code, out, err = conformance("run", "--impl", "reference_numpy", "--timing-budget", "0", "--out", tmp_path,
                                 capsys=capsys)
    assert code == 0 and "timing" not in err and "no timing" in out.splitlines()[0]
    assert pd.read_csv(tmp_path / "timings.csv").empty


@pytest.mark.e2e  # starts a worker
def test_a_timing_budget_leaves_out_the_cases_that_would_not_fit_and_says_so():
    report = api.run_suite(["reference_numpy"], options=api.Options(isolate=False, timing_budget_s=1e-9))
    timings = report.timings
    assert len(timings) == 2 * 9 and timings["median_s"].isna().all()
    assert set(timings["detail"]) == {"not timed: the timing budget (1e-09 s for the run) would be exceeded"}


@pytest.mark.parametrize("quick, label", [
    pytest.param(True, "quick", id="the quick grid is called quick however it was asked for"),
    pytest.param(False, "full", id="the full grid is called full"),
])
def test_a_grid_is_labelled_by_its_cases(monkeypatch, quick, label):
    monkeypatch.undo()  # the real grids, not this module's small one
    assert api.grid_name(spec_grid.default_grid(seed=3, quick=quick), 3) == label
    assert api.grid_name(spec_grid.default_grid(seed=3, quick=quick)[1:], 3) == "custom"


def test_the_outcome_is_printed_where_it_is_asked_for(capsys):
    from conformance.reporting.files import Report

    written = io.StringIO()
    suite.print_outcome(Report(pd.DataFrame()), written)
    assert written.getvalue() == "no case finished\n" and capsys.readouterr().out == ""


def test_what_the_help_says_of_a_quick_grid_is_true_of_it(capsys, monkeypatch):
    """The help once called the quick grid "depth ≤ 2, batch 4" in four places while it has
    depths 1–4 and batches 1 and 4: any depth or batch figure the help gives holds (the
    audit's help speaks of the audit's quick grid; depths and batches are the MLPs')."""
    import re

    from conformance.cases.spec import NetworkSpec

    monkeypatch.undo()  # the real grids, not this module's small one

    from conformance.audit.audit import audit_grid
    from conformance.cases.grid import default_grid

    def help_of(verb: str) -> str:
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args([verb, "--help"])
        return " ".join(capsys.readouterr().out.split())

    verbs = cli.build_parser()._subparsers._group_actions[0].choices
    plugin = (Path(__file__).resolve().parent.parent / "conformance" / "pytest_plugin.py").read_text()
    said = {verb: help_of(verb) for verb in verbs} | {"pytest": " ".join(plugin.split())}
    for verb, text in said.items():
        quick = [c for c in (audit_grid(0, True) if verb == "audit" else default_grid(quick=True))
                 if isinstance(c.spec, NetworkSpec)]
        depths, batches = {len(c.spec.layers) for c in quick}, {c.batch for c in quick}
        for bound in re.findall(r"depth\s*(?:≤|<=)\s*(\d+)", text):
            assert max(depths) <= int(bound), f"{verb}: the help says depth ≤ {bound}; its grid goes to {max(depths)}"
        for stated in re.findall(r"\bbatch (\d+)\b", text):
            assert batches == {int(stated)}, f"{verb}: the help says batch {stated}; its grid has {sorted(batches)}"
    assert any("batch" in text for text in said.values()), "no help states a batch: the test would not fail"


@pytest.mark.parametrize("argv", [["--widths", "3-4-2"], ["--depth", "2"], ["--batch", "4"]],
                         ids=["widths", "depth", "batch"])
def test_an_mlp_only_grid_option_says_how_many_layer_network_cases_it_leaves_out(argv, capsys):
    args = cli.build_parser().parse_args(["run", "--quick", *argv])
    cases = options.grid_cases(args)
    assert not [c.id for c in cases if not isinstance(c.spec, NetworkSpec)]
    dropped = len(spec_grid.sequence_cases(spec_grid.GridChoice(), args.seed, quick=True))
    if argv[0] != "--depth":  # the large family is kept under --depth (its networks have depths)
        dropped += len(spec_grid.large_cases(spec_grid.GridChoice(), args.seed))
    assert dropped > 0
    assert f"{dropped} layer-network and large-magnitude cases are left out" in capsys.readouterr().err


def test_the_whole_grid_leaves_nothing_out_and_says_nothing(capsys):
    options.grid_cases(cli.build_parser().parse_args(["run", "--quick"]))
    assert "left out" not in capsys.readouterr().err
