"""The pytest plugin as a plug-in author uses it: ``pytest --conformance-impl TARGET`` in their
own folder, and ``assert_conforms`` in their own tests; and as every other project of the
environment meets it: options of their own kept, nothing heavy imported."""

import json

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import conformance
from conformance import Adapter, Gradients
from conformance.pytest_plugin import assert_conforms
from conformance.running.targets import TargetError
from conformance.cases.spec import Case, NetworkSpec
from conformance.cases.grid import default_grid, smoke_grid
from examples.numpy_mlp import NumpyMLPAdapter
from tests.faulty.sources import DOUBLED
from tests.helpers import EXAMPLE, PINNED, ROOT

#: The example's cases of the smoke grid: its MLPs, upstream gradient and MSE.
EXAMPLE_CASES = [c for c in smoke_grid() if isinstance(c.spec, NetworkSpec) and c.mode in ("vjp", "mse")]
INSTALLED = any(ep.value == "conformance.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest run in a plug-in author's folder, the project importable as if installed."""
    plugin = [] if INSTALLED else ["-p", "conformance.pytest_plugin"]
    # a plug-in author's own run: nothing of this run's pytest-xdist worker (pytest-benchmark
    # would take the child for an xdist run and turn itself off)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "-q", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)


e2e = pytest.mark.e2e  # each test runs pytest in a process of its own


@e2e
def test_pytest_impl_runs_only_the_applicable_cases_and_says_how_many_it_left_out(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "my_mlp.py")
    run = pytest_in(tmp_path, "--conformance-impl", "my_mlp.py", "--conformance-grid", "smoke")
    assert run.returncode == 0, run.stdout[-3000:]
    left_out = len(smoke_grid()) - len(EXAMPLE_CASES)
    assert f"{len(EXAMPLE_CASES)} passed" in run.stdout and "skipped" not in run.stdout
    assert (f"conformance: {left_out} cases not collected, their implementation does not support them "
            f"(my_mlp.py {left_out}") in run.stdout


@e2e
def test_pytest_impl_fails_a_wrong_plug_in_naming_the_tensor_and_both_values(tmp_path):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    run = pytest_in(tmp_path, "--conformance-impl", "doubled.py", "--conformance-grid", "smoke", "-x")
    assert run.returncode == 1
    assert "gradient fail: weight[0][" in run.stdout and ", PyTorch " in run.stdout and "tolerance" in run.stdout


@e2e
def test_a_failing_test_id_pasted_back_into_pytest_runs_that_test(tmp_path):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    first = pytest_in(tmp_path, "--conformance-impl", "doubled.py", "--conformance-grid", "smoke", "-x", "-rf")
    failed = next(line.split()[1] for line in first.stdout.splitlines() if line.startswith("FAILED "))
    again = pytest_in(tmp_path, "--conformance-impl", "doubled.py", "--conformance-grid", "smoke", failed)
    assert again.returncode == 1, again.stdout[-2000:] + again.stderr[-2000:]
    assert "1 failed" in again.stdout and "passed" not in again.stdout


@e2e
def test_an_id_of_the_default_grid_pasted_back_with_the_checkouts_path_is_found(tmp_path):
    # the checkout's path makes it pytest's rootdir; its own tests' smoke grid must not apply
    (tmp_path / "doubled.py").write_text(DOUBLED)
    smoke = {c.id for c in smoke_grid()}
    case = next(c for c in default_grid() if c.id not in smoke and isinstance(c.spec, NetworkSpec) and c.mode == "vjp")
    pasted = f"{ROOT / 'conformance' / 'suite.py'}::test_conforms[doubled.py-{case.id}]"
    run = pytest_in(tmp_path, "--conformance-impl", "doubled.py", pasted)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "1 failed" in run.stdout and "passed" not in run.stdout


@e2e
def test_a_plug_in_that_cannot_be_imported_is_one_usage_error_line(tmp_path):
    (tmp_path / "typo.py").write_text("from conformance import Adapter\nclass Typo(Adapter)\n    pass\n")
    run = pytest_in(tmp_path, "--conformance-impl", "typo.py", "--conformance-grid", "smoke")
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
    assert "ERROR: typo.py: syntax error in typo.py, line 2" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr and "_pytest" not in run.stdout + run.stderr


@e2e
def test_a_project_with_its_own_seed_option_runs_unchanged_and_imports_nothing_heavy(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import sys\n\n\ndef pytest_addoption(parser):\n"
        "    parser.addoption('--seed', type=int, default=0)\n    parser.addoption('--grid', default='none')\n\n\n"
        "def pytest_collection_finish(session):\n"
        "    print('heavy:', sorted(m for m in ('numpy', 'torch', 'pandas', 'matplotlib') if m in sys.modules))\n")
    (tmp_path / "test_own.py").write_text("def test_seed(request):\n    assert request.config.getoption('seed') == 7\n")
    run = pytest_in(tmp_path, "--seed", "7", "--grid", "mine", "-s")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout and "heavy: []" in run.stdout
    assert "conformance" not in run.stdout.replace("conformance-", "")


@e2e
def test_benchmarks_time_each_implementation_next_to_pytorch_in_pytest_benchmark_json(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "my_mlp.py")
    run = pytest_in(tmp_path, "--conformance-impl", "my_mlp.py", "--conformance-grid", "smoke", "--benchmark-only",
                    "--benchmark-json", "timings.json", "--benchmark-min-rounds", "1", "--benchmark-max-time", "0",
                    "--benchmark-warmup", "off")
    assert run.returncode == 0, run.stdout[-2000:]
    assert f"{len(EXAMPLE_CASES)} deselected" in run.stdout
    benchmarks = json.loads((tmp_path / "timings.json").read_text())["benchmarks"]
    groups: dict[str, set] = {}
    for b in benchmarks:
        groups.setdefault(b["group"], set()).add(b["extra_info"]["implementation"])
    assert len(groups) >= 6 and all(names == {"my_mlp.py", "pytorch"} for names in groups.values())


@e2e
def test_the_default_run_collects_no_timing_test(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "my_mlp.py")
    run = pytest_in(tmp_path, "--conformance-impl", "my_mlp.py", "--conformance-grid", "smoke", "--collect-only")
    assert "test_speed" not in run.stdout and "test_conforms[my_mlp.py-" in run.stdout


@e2e
def test_pytest_impl_with_a_bad_target_is_a_usage_error_of_one_line(tmp_path):
    run = pytest_in(tmp_path, "--conformance-impl", "missing.py")
    assert run.returncode == 4
    assert "ERROR: no such file: missing.py" in run.stderr and "Traceback" not in run.stderr


@e2e
def test_assert_conforms_in_a_users_own_test_reports_the_wrong_tensor_without_the_harness_traceback(tmp_path):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    # a user's network as it declares itself: tanh hidden layers, float64, upstream gradients only
    (tmp_path / "test_mine.py").write_text(
        "from conformance import Capabilities, assert_conforms\nfrom doubled import Doubled\n\n\n"
        "class MyNet(Doubled):\n"
        "    capabilities = Capabilities(activations=frozenset({'tanh'}), output_activations=frozenset({'identity'}),\n"
        "                                dtypes=frozenset({'float64'}))\n\n\n"
        "def test_my_backprop_matches_autograd():\n    assert_conforms(MyNet, quick=True)\n"
    )
    run = pytest_in(tmp_path)
    assert run.returncode == 1
    assert "doubled (test_mine:MyNet): DOES NOT CONFORM" in run.stdout
    assert "gradient FAIL in" in run.stdout and "weight[0][" in run.stdout
    assert "conformance/check.py" not in run.stdout


@pytest.mark.e2e  # starts a worker
def test_assert_conforms_passes_a_correct_adapter_and_returns_its_rows():
    result = assert_conforms(NumpyMLPAdapter, cases=PINNED)
    assert result.verdict == "pass"
    assert {r.check for r in result.rows} >= {"forward", "gradient", "loss", "contract"}


def test_assert_conforms_raises_with_the_worst_element_both_values_and_the_tolerance():
    class HalfBiasGradient(NumpyMLPAdapter):
        @staticmethod
        def gradients(grads):
            ok = NumpyMLPAdapter.gradients(grads)
            return Gradients(ok.input, ok.weights, tuple(b / 2 for b in ok.biases))

    with pytest.raises(AssertionError) as failure:
        assert_conforms(HalfBiasGradient, cases=[Case(NetworkSpec.mlp([3, 4, 2], "tanh"), 4)])
    message = str(failure.value)
    assert "DOES NOT CONFORM" in message and "gradient FAIL 1" in message
    assert "bias[0][" in message and ", PyTorch " in message and "exceeds tolerance" in message


def test_assert_conforms_refuses_an_adapter_missing_a_method_saying_what_the_contract_expects():
    class NoBackward(Adapter):
        def build(self, spec, params): ...
        def forward(self, x): ...

    with pytest.raises(TargetError, match=r"does not implement backward\(grad_output\); the contract expects"):
        assert_conforms(NoBackward)


def test_assert_conforms_fails_when_no_case_applies():
    class SupportsNothing(NumpyMLPAdapter):
        def supports(self, spec, batch, dtype):
            return "only convolutional networks"

    with pytest.raises(AssertionError, match="(?s)NOTHING RAN.*only convolutional networks"):
        assert_conforms(SupportsNothing, cases=PINNED)


@pytest.mark.e2e  # starts a worker
def test_assert_conforms_takes_what_conformance_check_takes():
    assert assert_conforms(str(EXAMPLE), cases=PINNED[:2]).name == "numpy_mlp"


def test_assert_conforms_is_exported_from_the_package():
    assert conformance.assert_conforms is assert_conforms
