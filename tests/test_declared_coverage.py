"""Declared coverage: every declared family is stated with its count, and one of which no
case ran makes the verdict ``incomplete`` with the reason."""

import pytest

from conformance.cases.layers import LAYER_KINDS, SEQUENCE_LOSSES
from conformance.cases.grid import default_grid
from conformance.check import check_target
from conformance.contract.adapter import Capabilities
from conformance.implementations.reference_numpy import ReferenceNumpy
from conformance.judge.declared import declared_families
from conformance.reporting.verdicts import render_target
from conformance.running import targets as registry
from helpers import fresh_python, mlp


class CrossEntropyOnTanhOnly(ReferenceNumpy):
    name = "tanh_sce"
    capabilities = Capabilities(activations={"tanh"}, output_activations={"tanh"},
                                losses={"softmax_cross_entropy"})


def test_a_declared_loss_none_of_whose_cases_ran_makes_the_verdict_incomplete():
    cases = [mlp((3, 4, 2), "tanh", output="tanh"), mlp((3, 4, 3), "tanh", loss="softmax_cross_entropy")]
    result = check_target(registry.as_target(CrossEntropyOnTanhOnly), cases, isolate=False)
    text = render_target(result)
    assert result.verdict == "incomplete", text
    first = text.splitlines()[0]
    assert "vjp 1" in first and "loss softmax_cross_entropy 0 of 1" in first
    assert "no identity output activation" in text


def test_the_same_adapter_is_complete_when_a_case_of_each_family_runs():
    cases = [mlp((3, 4, 2), "tanh", output="tanh"),
             mlp((3, 4, 3), "tanh", output="tanh", loss="softmax_cross_entropy"),
             mlp((3, 4, 2), "tanh", output="tanh", dtype="float32")]
    result = check_target(registry.as_target(CrossEntropyOnTanhOnly), cases, isolate=False)
    assert result.verdict == "pass", render_target(result)
    assert "loss softmax_cross_entropy 1" in render_target(result).splitlines()[0]


@pytest.mark.parametrize("quick", [pytest.param(True, id="the quick grid"), pytest.param(False, id="the full grid")])
def test_the_default_grids_have_a_case_of_every_family_an_adapter_can_declare(quick):
    every = Capabilities(losses=frozenset(SEQUENCE_LOSSES), layers=frozenset(LAYER_KINDS), penalties=frozenset({"l2"}))
    grid = default_grid(0, quick)
    assert [f.name for f in declared_families(every) if not any(f.has(c) for c in grid)] == []


def test_every_bundled_implementation_can_run_a_case_of_each_family_it_declares_on_the_quick_grid():
    grid = default_grid(0, quick=True)
    for target in registry.builtins():
        adapter = target.adapter or target.loaded_here().adapter
        for family in declared_families(adapter.capabilities):
            assert any(family.has(c) and adapter().supports(c.spec, c.batch, c.dtype) is None for c in grid), \
                (target.name, family.name)


class CannotBeConstructed(ReferenceNumpy):
    name = "boom"

    def __init__(self):
        raise RuntimeError("cannot construct me")


def test_an_adapter_that_cannot_be_constructed_is_one_error_line_naming_the_exception():
    result = check_target(registry.as_target(CannotBeConstructed), [mlp((3, 4, 2)), mlp((3, 2))], isolate=False)
    text = render_target(result)
    assert result.verdict == "error" and len(text.splitlines()) == 1, text
    assert "no case ran" in text and "RuntimeError: cannot construct me" in text


class MseOnly(ReferenceNumpy):
    name = "mse_only"
    capabilities = Capabilities(losses={"mse"}, vjp=False)


def test_a_dtype_is_missing_only_among_the_cases_the_other_declarations_allow():
    # float32 is on the grid only in a case of backward from an upstream gradient, which this adapter does not declare
    cases = [mlp((3, 4, 2), "tanh", loss="mse"), mlp((3, 4, 2), "tanh", dtype="float32")]
    result = check_target(registry.as_target(MseOnly), cases, isolate=False)
    assert result.verdict == "pass", render_target(result)
    assert not [r for r in result.rows if r.check == "coverage"]


def test_a_dtype_none_of_whose_allowed_cases_ran_is_still_missing():
    class Float64Only(MseOnly):
        def supports(self, spec, batch, dtype):
            return "float64 only, really" if dtype == "float32" else None

    cases = [mlp((3, 4, 2), "tanh", loss="mse"), mlp((3, 4, 2), "tanh", loss="mse", dtype="float32")]
    result = check_target(registry.as_target(Float64Only), cases, isolate=False)
    assert result.verdict == "incomplete", render_target(result)
    [row] = [r for r in result.rows if r.check == "coverage"]
    assert row.tensor == "dtype float32" and "none of the grid's 1 cases of it ran" in row.detail


class SupportsRaises(ReferenceNumpy):
    name = "supports_raises"

    def supports(self, spec, batch, dtype):
        raise KeyError("no such layer")


def test_an_adapter_whose_every_supports_raises_is_not_said_to_have_run_its_cases():
    result = check_target(registry.as_target(SupportsRaises), [mlp((3, 4, 2)), mlp((3, 2))], isolate=False)
    text = render_target(result)
    assert result.verdict == "error", text
    assert "2 of 2 cases ran" not in text and "KeyError" in text, text


RAISES_IN_INIT = '''from conformance import Adapter, Capabilities, Gradients


class Typo(Adapter):
    name = "typo"
    capabilities = Capabilities()

    def __init__(self):
        super().__init__()
        self.layers = undefined_name

    def build(self, spec, params):
        pass

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return Gradients(grad_output, (), ())
'''


@pytest.mark.e2e
def test_conformance_check_of_an_adapter_raising_in_init_is_one_error_line(tmp_path):
    (tmp_path / "typo.py").write_text(RAISES_IN_INIT)
    run = fresh_python("-m", "conformance", "check", "typo.py", "--widths", "3-2,3-4-2", "--batch", "1",
                       "--no-timing", "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    [line] = [line for line in run.stdout.splitlines() if line.startswith("typo (typo.py)")]
    assert "no case ran" in line and "NameError: name 'undefined_name' is not defined" in line, run.stdout
    assert "cases ran" not in run.stdout.replace("no case ran", "") and "Traceback" not in run.stdout + run.stderr


def test_families_the_grid_has_no_case_of_are_said_last_grouped_and_counted_beyond_a_few():
    from conformance.judge.declared import FamilyCoverage, Family
    from conformance.reporting.coverage import NAMED_AT_MOST, coverage_statement

    many = [f"kind{n}" for n in range(NAMED_AT_MOST + 1)]
    coverage = ([FamilyCoverage(Family("vjp", ""), 8, 8), FamilyCoverage(Family("loss hinge", ""), 0, 0),
                 FamilyCoverage(Family("loss mse", ""), 0, 4), FamilyCoverage(Family("loss sse", ""), 0, 0)]
                + [FamilyCoverage(Family(f"layer {name}", ""), 0, 0) for name in many]
                + [FamilyCoverage(Family("dtype float64", ""), 8, 8)])
    assert coverage_statement(coverage) == (f" (vjp 8, loss mse 0 of 4, dtype float64 8; not on this grid: "
                                            f"loss hinge, sse; {len(many)} layer kinds)")
