"""The example plug-in in ``examples/`` conforms, stays small, and the suite catches a
one-character bug in it; docs/adapter.md shows it as it is."""

import re
import shutil

import pytest

from conformance.cases.spec import NetworkSpec
from conformance.cases.grid import default_grid, smoke_grid
from conformance.check import check_target
from conformance.reporting.verdicts import problem_lines
from conformance.running import targets as registry
from tests.helpers import EXAMPLE, PINNED, ROOT


def the_examples(cases):
    """The cases the example takes: MLPs, the upstream gradient and MSE."""
    return [c for c in cases if isinstance(c.spec, NetworkSpec) and c.mode in ("vjp", "mse")]


@pytest.mark.parametrize("quick", [
    pytest.param(True, id="on the quick grid", marks=pytest.mark.e2e),
    pytest.param(False, id="on the whole grid", marks=pytest.mark.slow),
])
def test_the_example_conforms_on_every_case_it_supports_in_both_dtypes(quick):
    grid = default_grid(quick=quick)
    result = check_target(registry.load(str(EXAMPLE)), grid)
    assert result.verdict == "pass", problem_lines(result.rows, 5)
    assert {r.dtype for r in result.ran} == {"float32", "float64"}
    assert {r.loss for r in result.ran} == {"", "mse"}
    assert len({r.case for r in result.ran}) == len(the_examples(grid))


def test_the_example_adapter_is_under_40_lines():
    source = EXAMPLE.read_text()
    adapter = source[source.index("class NumpyMLPAdapter"):]
    assert len(adapter.strip().splitlines()) < 40


@pytest.mark.e2e  # starts a worker
def test_a_one_character_bug_in_the_example_is_caught_and_located(tmp_path):
    buggy = tmp_path / "numpy_mlp_buggy.py"
    source = EXAMPLE.read_text()
    assert "2 * error / error.size" in source
    buggy.write_text(source.replace("2 * error / error.size", "2 * error / len(error)"))  # mean over the batch only
    cases = [c for c in smoke_grid() if c.mode in ("vjp", "mse")]
    result = check_target(registry.load(str(buggy)), cases)
    assert result.verdict == "fail"
    assert result.family("forward") == "pass" and result.family("loss") == "pass"
    # every MSE case whose network has more than one output (with one, the batch is every element); no VJP case
    wrong = sum(c.mode == "mse" and isinstance(c.spec, NetworkSpec) and c.spec.sizes[-1] > 1 for c in cases)
    assert wrong > 0 and result.family("gradient") == f"FAIL {wrong}"
    assert {r.loss for r in result.rows if r.verdict == "fail"} == {"mse"}


def test_the_contract_page_shows_the_example_adapter_as_it_is():
    readme = (ROOT / "docs" / "adapter.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert EXAMPLE.read_text() in blocks


@pytest.mark.e2e  # starts a worker
def test_the_example_runs_in_a_fresh_folder_of_its_own(tmp_path):
    copy = tmp_path / "my_mlp.py"
    shutil.copy(EXAMPLE, copy)
    assert check_target(registry.load(str(copy)), PINNED).verdict == "pass"
