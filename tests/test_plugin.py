"""The pytest plugin as a plug-in author uses it: ``pytest --impl TARGET`` in their own folder,
and ``assert_conforms`` in their own tests."""

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
from conformance.registry import TargetError
from conformance.spec import Case, NetworkSpec
from examples.numpy_mlp import NumpyMLPAdapter
from tests.faulty.sources import DOUBLED

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "numpy_mlp.py"
INSTALLED = any(ep.value == "conformance.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest run in a plug-in author's folder, the project importable as if installed."""
    plugin = [] if INSTALLED else ["-p", "conformance.pytest_plugin"]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "-q", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_pytest_impl_runs_the_suite_on_a_plug_in_from_its_own_folder(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "my_mlp.py")
    run = pytest_in(tmp_path, "--impl", "my_mlp.py", "--grid", "quick")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "392 passed, 224 skipped" in run.stdout


def test_pytest_impl_fails_a_wrong_plug_in_naming_the_tensor_and_both_values(tmp_path):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    run = pytest_in(tmp_path, "--impl", "doubled.py", "--grid", "quick", "-x")
    assert run.returncode == 1
    assert "gradient fail: weight[0][" in run.stdout and ", PyTorch " in run.stdout and "tolerance" in run.stdout


def test_pytest_impl_with_a_bad_target_is_a_usage_error_of_one_line(tmp_path):
    run = pytest_in(tmp_path, "--impl", "missing.py")
    assert run.returncode == 4
    assert "ERROR: no such file: missing.py" in run.stderr and "Traceback" not in run.stderr


def test_assert_conforms_in_a_users_own_test_reports_the_wrong_tensor_without_the_harness_traceback(tmp_path):
    (tmp_path / "doubled.py").write_text(DOUBLED)
    (tmp_path / "test_mine.py").write_text(
        "from conformance import assert_conforms\nfrom doubled import Doubled\n\n\n"
        "def test_my_backprop_matches_autograd():\n    assert_conforms(Doubled, quick=True)\n"
    )
    run = pytest_in(tmp_path)
    assert run.returncode == 1
    assert "doubled (doubled:Doubled): DOES NOT CONFORM" in run.stdout
    assert "gradient FAIL in" in run.stdout and "weight[0][" in run.stdout
    assert "conformance/check.py" not in run.stdout


def test_assert_conforms_passes_a_correct_adapter_and_returns_its_rows():
    result = assert_conforms(NumpyMLPAdapter, quick=True)
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
        assert_conforms(SupportsNothing, quick=True)


def test_assert_conforms_takes_what_conformance_check_takes():
    assert assert_conforms(str(EXAMPLE), quick=True).name == "numpy_mlp"


def test_assert_conforms_is_exported_from_the_package():
    assert conformance.assert_conforms is assert_conforms
