"""Repeated calls: two runs that differ by rounding pass with a note, beyond it they fail;
a model that keeps state between calls (accumulated gradients, a stale cache) fails the
contract with a message that says which."""

import pytest

import numpy as np

from conformance.judge import rounding
from conformance.judge.rounding import Rounding
from conformance.running.targets import Target, load
from conformance.runner import Checks, run_case
from conformance.cases.spec import Case, NetworkSpec
from conformance.cases.grid import default_grid
from conformance.cases.mlp_data import generate
from tests.helpers import GRID_SIZES
from tests.faulty import state

CONTRACT_ONLY = Checks(torch=False, finite_differences=False)
VJP = Case(NetworkSpec.mlp([3, 4, 4, 2], "tanh", "identity"), batch=4)


def contract(adapter, case, checks=CONTRACT_ONLY):
    rows = run_case(Target(adapter.name, adapter, "test"), case, (), checks)
    return [r for r in rows if r.check == "contract"]


@pytest.mark.parametrize("grid", GRID_SIZES)
def test_sums_in_a_random_order_pass_every_mlp_case_of_the_grid_in_both_dtypes(grid):
    noted, cases = 0, [c for c in grid() if isinstance(c.spec, NetworkSpec)]  # an MLP adapter
    for case in cases:
        rows = contract(state.RandomOrder, case)
        assert [r.verdict for r in rows] == ["pass"], (case.id, [r.detail for r in rows])
        noted += "not bit-for-bit reproducible" in rows[0].detail
    assert noted > len(cases) / 30  # the order really changed the rounding, in many cases


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_random_summation_order_passes_every_check_and_says_within_rounding(dtype):
    case = Case(NetworkSpec.mlp([5, 5, 5, 5], "sigmoid", loss="mse"), batch=4, dtype=dtype)
    rows = run_case(Target("random", state.RandomOrder, "test"), case)
    assert all(r.verdict == "pass" for r in rows), [r.detail for r in rows if r.verdict != "pass"]
    notes = [r.detail for r in rows if r.check == "contract" and "not bit-for-bit" in r.detail]
    assert not notes or f"within {dtype} rounding" in notes[0]


def test_the_bound_is_the_rounding_of_the_terms_behind_an_entry_not_of_the_entry():
    data = generate(VJP)
    allowance = Rounding(data)
    bias = data.params.biases[2]
    found = allowance.difference("bias[2]", bias, bias + 1e-15)
    assert isinstance(found.index, tuple) and found.dtype == "float64"
    behind = rounding.magnitudes(data)["bias[2]"]
    assert found.bound == np.float64(rounding.allowance(data, np.dtype("float64")) * behind[found.index])
    assert np.all(behind >= np.abs(data.upstream).sum(axis=0) - 1e-12)  # at least the upstream it sums
    assert allowance.difference("bias[2]", bias, bias + 1e-6).within_rounding is False


def test_noise_beyond_rounding_fails_and_names_tensor_element_values_and_tolerance():
    (only,) = contract(state.NoisyFromSecondCall, VJP)
    assert only.verdict == "fail" and only.tensor == "weight[0]"
    assert "beyond rounding: weight[0][" in only.detail and "exceeds tolerance" in only.detail
    assert " then " in only.detail  # both values


def test_float32_noise_beyond_float32_rounding_fails_and_within_it_passes_with_a_note():
    case = Case(VJP.spec, batch=4, dtype="float32")
    (loud,) = contract(state.LouderFromSecondCall, case)
    assert loud.verdict == "fail" and "exceeds tolerance" in loud.detail and "in float32" in loud.detail
    (quiet,) = contract(state.NoisyFromSecondCall, case)
    assert quiet.verdict == "pass" and "within float32 rounding" in quiet.detail


def test_accumulated_gradients_fail_the_contract_saying_so():
    rows = contract(state.AccumulatesGradients, VJP)
    assert {r.verdict for r in rows} == {"fail"}
    assert {r.tensor for r in rows} >= {"weight[0]", "bias[2]"}
    assert all("gradients accumulate between calls" in r.detail and "2× the first" in r.detail for r in rows)


def test_a_stale_cache_fails_the_contract_saying_the_backward_does_not_follow_the_forward():
    rows = contract(state.StaleCache, VJP)
    assert [r.tensor for r in rows] == ["weight[0]"]
    assert rows[0].verdict == "fail" and "exceeds tolerance" in rows[0].detail
    assert "does not follow the latest forward" in rows[0].detail and "stale state" not in rows[0].detail


def test_an_output_that_moves_with_its_position_in_the_batch_is_named_so_not_stale_state():
    rows = contract(state.PositionalOutput, VJP)
    assert [r.tensor for r in rows] == ["output"]
    assert rows[0].verdict == "fail" and "depends on its position in the batch" in rows[0].detail
    assert "stale" not in rows[0].detail


def test_an_answer_to_an_earlier_input_is_called_stale_state():
    rows = contract(state.MemoisedOutput, VJP)
    assert [r.tensor for r in rows] == ["output"]
    assert rows[0].verdict == "fail" and "stale state" in rows[0].detail and "earlier input's answer" in rows[0].detail


def test_a_cache_one_call_late_at_batch_one_is_caught_by_the_first_input_again():
    # One sample: reversing the batch changes nothing, so another input and then the first again.
    rows = contract(state.LaggingCache, Case(VJP.spec, batch=1))
    assert rows and all(r.verdict == "fail" and "the first input again" in r.detail for r in rows)


def test_accumulating_gradients_pass_against_pytorch_on_a_fresh_model():
    """Why the repeated calls are needed: the first call on a fresh model is right."""
    rows = run_case(Target("acc", state.AccumulatesGradients, "test"), VJP)
    assert {r.check for r in rows if r.verdict == "fail"} == {"contract"}


@pytest.mark.parametrize("grid", GRID_SIZES)
@pytest.mark.parametrize("name", ["reference_numpy", "class_layers", "single_layer_relu", "two_layer_sgd",
                                  "cached_input"])
def test_the_bundled_implementations_keep_no_state_between_calls(name, grid):
    """Other contract rows may fail where a port has a recorded defect (an int64 output,
    unsummed bias shapes); none may be about calling one model again."""
    target = load(name)
    about_state = ("between calls", "stale state", "position in the batch", "does not follow the latest forward")
    for case in grid()[::3]:
        rows = run_case(target, case, (), CONTRACT_ONLY)
        assert not [r.detail for r in rows if r.verdict == "fail" and any(w in r.detail for w in about_state)], case.id
        assert all(r.verdict != "error" for r in rows), (case.id, [r.detail for r in rows if r.verdict == "error"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wrong_backward_summing_in_another_order_is_wrong_not_stale(dtype):
    # 1 − z² at pre-activations of the large-magnitude family makes gradients of 1e3–1e8: their
    # rounding is of their own size, far beyond a correct network's, and is no contract failure.
    cases = [c for c in default_grid(quick=True) if "-large-" in c.id and c.dtype == dtype
             and isinstance(c.spec, NetworkSpec) and c.spec.layers[0].activation == "tanh"]
    assert cases
    for case in cases:
        rows = run_case(Target("wrong", state.WrongDerivativeRandomOrder, "test"), case)
        assert [r.verdict for r in rows if r.check == "contract"] == ["pass"], (case.id, [
            r.detail for r in rows if r.check == "contract"])
        assert any(r.verdict == "fail" for r in rows if r.check == "gradient"), case.id
