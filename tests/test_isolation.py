"""Untrusted implementations in worker processes: every fault becomes a clear row, and
nothing one implementation does reaches the oracle or another implementation."""

import sys

import numpy as np
import pytest

from conformance.running import targets as registry
from conformance.running.isolation import WorkerDriver, describe
from conformance.running.limits import Limits
from conformance.running.targets import Target
from conformance.runner import Checks, run_case
from conformance.cases.spec import Case, NetworkSpec
from tests.faulty import adapters as faulty

pytestmark = pytest.mark.e2e  # workers in the sandbox, one per test

CASES = [
    Case(NetworkSpec.mlp([3, 4, 2], "tanh"), batch=4),
    Case(NetworkSpec.mlp([3, 4, 4, 2], "relu", "identity", loss="half_mse"), batch=4, dtype="float32"),
]
#: Honest calls get a limit no loaded machine meets; the hanging adapter's tests a short one.
LIMITS = Limits(timeout_s=120.0, memory_mb=1536)
HANG_LIMITS = Limits(timeout_s=2.0, memory_mb=1536)
ONLY_TORCH = Checks(finite_differences=False)


def worker(adapter: type) -> WorkerDriver:
    return WorkerDriver(Target(adapter.name, adapter, "tests"), HANG_LIMITS if adapter is faulty.Hangs else LIMITS)


def rows_of(driver, cases=CASES, checks=ONLY_TORCH):
    with driver:
        return [r for case in cases for r in run_case(driver, case, checks=checks)]


@pytest.mark.parametrize("adapter, verdict, words", [
    (faulty.Raises, "error", "ValueError: shapes (4,2) and (3,4) not aligned (at adapters.py:"),
    (faulty.Hangs, "error", "timed out after 2 s"),
    (faulty.ExitsHard, "error", "exited with code 3"),
    (faulty.CallsSysExit, "error", "called exit(4)"),
    (faulty.Crashes, "error", "crashed the worker process (SIGSEGV)"),
    (faulty.EatsMemory, "error", "MemoryError"),
    # an answer that breaks the contract fails (contract.py's rule); no answer at all is an error
    (faulty.ReturnsNaN, "fail", "weight[0]: non-finite value nan"),
    (faulty.ReturnsInfOutput, "fail", "output: non-finite value"),
    (faulty.ReturnsNone, "fail", "weight[0]: missing (None)"),
    (faulty.MissingGradients, "fail", "weight[1]: missing (None)"),
    (faulty.ReturnsTuple, "fail", "backward must return conformance.Gradients(input, weights, biases), got tuple"),
    (faulty.WrongShape, "fail", "weight[0]: shape (3, 4), expected (4, 3)"),
    (faulty.WrongDtype, "fail", "weight[0]: dtype float16, expected float64"),
    (faulty.ModifiesArguments, "fail", "input: the implementation modified the array it was given"),
    (faulty.NonDeterministic, "fail", "weight[0]: non-deterministic, two runs of the same case differ"),
])
def test_each_fault_becomes_a_row_that_says_what_happened(adapter, verdict, words):
    rows = rows_of(worker(adapter), CASES[:1])
    matching = [r for r in rows if r.verdict == verdict and words in r.detail]
    assert matching, [(r.verdict, r.detail) for r in rows if r.verdict != "pass"]


def test_the_run_goes_on_after_a_fault_with_a_fresh_worker():
    rows = rows_of(worker(faulty.Hangs))
    assert [r.verdict for r in rows] == ["error", "error"]


def test_memory_runaway_is_an_error_row_not_a_dead_run():
    (only,) = rows_of(worker(faulty.EatsMemory), CASES[:1])
    assert only.verdict == "error" and "memory limit 1536 MiB" in only.detail


def test_tampering_with_the_interpreter_stays_in_its_worker():
    dot, zeros = np.dot, np.zeros
    tampered = rows_of(worker(faulty.TampersWithTheInterpreter))
    assert np.dot is dot and np.zeros is zeros and np.geterr()["divide"] == "warn"
    assert all(r.verdict == "pass" for r in tampered), [r.detail for r in tampered if r.verdict != "pass"]


def test_other_implementations_rows_are_identical_with_and_without_faulty_neighbours():
    reference = registry.load("reference_numpy")
    clean = rows_of(WorkerDriver(reference, LIMITS))
    for adapter in (faulty.TampersWithTheInterpreter, faulty.Crashes, faulty.Raises):
        rows_of(worker(adapter))
    again = rows_of(WorkerDriver(reference, LIMITS))
    assert again == clean


def test_an_adapter_that_cannot_be_found_again_is_refused_for_isolation():
    class Local(faulty.Raises):
        pass

    with pytest.raises(ValueError, match="define it at module level"):
        WorkerDriver(Target("local", Local, "tests"))


def test_loading_a_module_that_patches_numpy_leaves_the_harness_unpatched(tmp_path):
    source = tmp_path / "patches_on_import.py"
    source.write_text(
        "import nnfs\nimport numpy as np\nnnfs.init()\nnp.seterr(all='ignore')\n"
        "from conformance.implementations.reference_numpy import ReferenceNumpy\n\n"
        "class PatchesOnImport(ReferenceNumpy):\n    name = 'patches_on_import'\n"
    )
    dot, zeros, errors = np.dot, np.zeros, np.geterr()
    target = registry.load(str(source))
    assert describe(target)["name"] == "patches_on_import"  # loaded, in its worker
    assert "nnfs" not in sys.modules or np.dot is dot
    assert np.dot is dot and np.zeros is zeros and np.geterr() == errors
