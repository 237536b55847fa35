"""Diagnoses of bugs as an outside user writes them (``outside/cached_outputs_mlp.py``: layer
objects caching their outputs, derivatives in terms of the output): the next layer's derivative
formula applied to a layer's own output is named at the layers whose next activation differs; a
softmax cross-entropy without the max is told from an unclipped log by what the implementation
showed (NaN gradients, an overflow warning), and no line calls a non-finite value agreeing; a
square layer's transposed weight gradient and a penalty's gradient bug are worded without a
shape clause comparing equal shapes and at every penalised layer."""

from pathlib import Path

import numpy as np
import pytest

from conformance.audit import sequence_mutants
from conformance.audit.mutants import MUTANTS
from conformance.audit.showcases import mlp_case
from conformance.cases.grid import large_cases, mixed_cases
from conformance.diagnosis.findings import matches
from conformance.implementations.reference_numpy import ReferenceNumpy
from conformance.runner import case_outcome
from conformance.running import targets as registry
from conformance.running.driver import Driver
from conformance.running.targets import Target
from tests.faulty.wrong_gradients import TransposedSquareWeight

OUTSIDE = Path(__file__).parent / "outside" / "cached_outputs_mlp.py"
PLANTS = ("NEXT_DERIVATIVE", "SOFTMAX_WITHOUT_MAX", "DW_AS_INPUT_T_DZ")


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    """The correct file, and a copy of it per planted slip."""
    folder, source = tmp_path_factory.mktemp("cached"), OUTSIDE.read_text()
    found = {None: Driver(registry.load(str(OUTSIDE)))}
    for plant in PLANTS:
        assert source.count(f"{plant} = False") == 1, plant
        (folder / f"{plant.lower()}.py").write_text(source.replace(f"{plant} = False", f"{plant} = True"))
        found[plant] = Driver(registry.load(str(folder / f"{plant.lower()}.py")))
    return found


def _softmax_large():
    return [c for c in large_cases() if getattr(c.spec, "layers", None) and c.spec.loss == "softmax_cross_entropy"
            and not hasattr(c.spec, "kinds")]


def _failing(outcome):
    return [f"{r.case} {r.check} {r.tensor}: {r.detail}" for r in outcome.rows if r.unexpected]


def test_the_cached_outputs_mlp_conforms_on_the_mixed_and_large_softmax_cases(drivers):
    ran = list(mixed_cases()) + _softmax_large()
    assert {c.dtype for c in ran} == {"float64", "float32"}
    for case in ran:
        outcome = case_outcome(drivers[None], case)
        assert _failing(outcome) == [], outcome.diagnosis.line()


def test_the_next_layers_derivative_of_a_layers_own_output_is_named_at_each_layer_below_another(drivers):
    for case in mixed_cases():
        acts = [layer.activation for layer in case.spec.layers]
        differ = tuple(i for i in range(len(acts) - 1) if acts[i] != acts[i + 1])
        found = case_outcome(drivers["NEXT_DERIVATIVE"], case).diagnosis
        assert matches(found.names(), "derivative_of_next_layer", differ, variant="output"), found.line()
        assert not found.line().startswith("unexplained"), found.line()
        for i in differ:
            assert f"layer {i} multiplies by" in found.line() and f"of its own {acts[i]} output a" in found.line()


def test_the_tanh_layer_under_a_sigmoid_is_said_to_multiply_by_the_sigmoids_output_formula(drivers):
    case = next(c for c in mixed_cases() if c.spec.depth == 3)
    line = case_outcome(drivers["NEXT_DERIVATIVE"], case).diagnosis.line()
    assert ("layer 1 multiplies by a·(1 − a), the sigmoid derivative in terms of the output, of its own tanh "
            "output a where its own tanh derivative is due") in line, line


def test_a_softmax_without_the_max_is_named_where_it_overflowed_and_no_line_calls_infinity_agreeing(drivers):
    overflowed = 0
    for case in _softmax_large():
        outcome = case_outcome(drivers["SOFTMAX_WITHOUT_MAX"], case)
        line = outcome.diagnosis.line()
        assert "every value agrees" not in line and "not finite: loss" in line, line
        nan_gradients = any("non-finite value nan" in r.detail for r in outcome.rows
                            if r.check == "gradient" and r.unexpected)
        warned = any("overflow encountered in exp" in r.detail for r in outcome.rows)
        if nan_gradients or warned:
            overflowed += 1
            assert outcome.diagnosis.findings[0].kind == "cross_entropy_naive_softmax", line
        else:  # exp did not overflow: the data shows only a log of 0, which both bugs take
            assert outcome.diagnosis.findings[0].kind == "cross_entropy_unclipped_log", line
    assert overflowed, "no large case made exp overflow"


class NanInputGradient(ReferenceNumpy):
    """The reference with a NaN written into the input gradient."""

    name = "nan_input_gradient"

    def backward(self, grad_output):
        g = super().backward(grad_output)
        g.input[0, 0] = np.nan
        return g


def test_a_nan_gradient_is_never_said_to_agree():
    outcome = case_outcome(Target("nan", NanInputGradient, "test"), mlp_case("tanh"))
    line = outcome.diagnosis.line()
    assert "not finite: input" in line and "every value agrees" not in line, line


def test_a_square_layers_transposed_weight_gradient_compares_no_equal_shapes(drivers):
    line = case_outcome(drivers["DW_AS_INPUT_T_DZ"], mlp_case("tanh")).diagnosis.line()
    assert ("weight[0], weight[1], weight[2] transposed: shape (3, 4) where (4, 3) is due, and its transpose is "
            "right") in line, line
    alone = case_outcome(Target("t", TransposedSquareWeight, "test"), mlp_case("tanh")).diagnosis.line()
    assert alone.startswith("weight[1] transposed: its transpose is right ("), alone


@pytest.mark.parametrize("factor,words", [
    pytest.param(2.0, "is 2λ·W where λ·W is due", id="a doubled penalty gradient"),
    pytest.param(0.5, "keeps the ½", id="a penalty gradient that keeps the half"),
])
def test_a_penalty_gradient_bug_in_every_penalised_layer_is_located_at_every_one(factor, words):
    adapter = sequence_mutants.adapter("l2_factor", "the penalty's gradient off", penalty_factor=factor)
    for name in ("l2_gradient_without_lambda", "l2_gradient_keeps_half"):
        case = next(m for m in MUTANTS if m.name == name).shows_in
        penalised = sorted({int(p.partition(".")[0]) for p in case.spec.penalised()})
        line = case_outcome(Target("l2", adapter, "test"), case).diagnosis.line()
        assert words in line, line
        assert f"every penalised layer: layers {penalised[0]} and {penalised[-1]}" in line, line
        assert "the error enters at" not in line, line
