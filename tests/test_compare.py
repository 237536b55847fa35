"""Tolerances and comparison messages: rounding passes, real bugs fail, messages say where."""

import numpy as np
import pytest

from conformance.judge.compare import compare, tolerance_for


@pytest.fixture
def expected():
    return np.random.default_rng(0).standard_normal((4, 3))


def test_float32_rounding_of_the_exact_answer_passes(expected):
    result = compare("weight[0]", expected.astype(np.float32), expected, "float32")
    assert result.passed, result.message


def test_float32_result_off_by_a_few_hundred_ulps_passes(expected):
    noisy = expected * (1 + 300 * np.finfo(np.float32).eps)
    assert compare("weight[0]", noisy.astype(np.float32), expected, "float32").passed


def test_near_zero_elements_are_judged_against_the_tensors_scale(expected):
    expected = expected.copy()
    expected[0, 0] = 1e-9  # cancellation leaves a tiny element
    actual = expected.astype(np.float32)
    actual[0, 0] = 3e-7
    assert compare("input", actual, expected, "float32").passed


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("factor", [2.0, 0.5, -1.0, 0.25, 1.01])
def test_a_constant_factor_fails(expected, dtype, factor):
    result = compare("bias[1]", (expected * factor).astype(dtype), expected, dtype)
    assert not result.passed


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_single_wrong_element_fails_and_is_pinned(expected, dtype):
    actual = expected.copy()
    actual[2, 1] += 0.01
    result = compare("weight[0]", actual.astype(dtype), expected, dtype)
    assert not result.passed
    assert result.worst_index == (2, 1)
    assert "weight[0][2, 1]" in result.message
    assert f"{actual[2, 1]:.5g}"[:5] in result.message and f"{expected[2, 1]:.5g}"[:5] in result.message
    assert "tolerance" in result.message


def test_a_wrong_shape_is_a_wrong_answer_not_a_fault():
    result = compare("weight[0]", np.ones((2, 3)), np.ones((3, 2)), "float64")
    assert not result.passed and not result.fault


def test_a_gradient_not_summed_over_the_batch_fails_on_shape():
    per_sample = np.ones((4, 3))
    result = compare("bias[0]", per_sample, per_sample.sum(axis=0), "float64")
    assert not result.passed
    assert result.message == "bias[0]: shape (4, 3), expected (3,)"


def test_transposed_gradient_fails_on_shape(expected):
    result = compare("weight[0]", expected.T, expected, "float64")
    assert not result.passed and "shape (3, 4), expected (4, 3)" in result.message


@pytest.mark.parametrize("bad, words", [
    (None, "missing (None)"),
    (np.full((4, 3), np.nan), "non-finite"),
    (np.array([["a"] * 3] * 4), "not numeric: dtype <U1"),
    (object(), "not numeric: dtype object"),
])
def test_results_that_are_no_answer_are_faults_saying_what_was_found(expected, bad, words):
    result = compare("output", bad, expected, "float64")
    assert not result.passed and result.fault and words in result.message


def test_lower_precision_than_the_case_fails(expected):
    result = compare("output", expected.astype(np.float32), expected, "float64")
    assert not result.passed and "dtype float32, expected float64" in result.message


def test_tolerances_are_dtype_aware():
    assert tolerance_for("float32").rtol > 100 * tolerance_for("float64").rtol
    assert tolerance_for("float32").rtol < 0.01


def test_a_failure_says_how_many_elements_fail_and_a_pass_does_not():
    expected = np.arange(1.0, 13.0).reshape(3, 4)
    wrong = expected.copy()
    wrong[0, 1] += 1.0
    wrong[2, 3] *= 1.5
    failed = compare("weight[0]", wrong, expected, "float64", "PyTorch")
    assert not failed.passed
    assert failed.message.startswith("weight[0][2, 3]: got 18, PyTorch 12 (|error| 6 exceeds tolerance ")
    assert failed.message.endswith("; mismatched elements: 2 / 12 (16.7%)")
    passed = compare("weight[0]", expected * (1 + 1e-12), expected, "float64", "PyTorch")
    assert passed.passed and "mismatched" not in passed.message


def test_the_tolerance_rule_is_relative_to_each_element_and_to_the_tensors_scale():
    tol = tolerance_for("float64")
    allowed = tol.allowed(np.array([0.0, 1.0, 10.0]))
    assert np.allclose(allowed, [tol.rtol * 10 + tol.floor, tol.rtol * 11 + tol.floor, tol.rtol * 20 + tol.floor])



@pytest.mark.parametrize("nudge", [-1, 0, 1], ids=["the later error an ulp smaller", "equal errors",
                                                   "the later error an ulp larger"])
def test_of_two_equal_errors_the_first_is_the_worst_element_whatever_the_last_bit(nudge):
    # Two processes summing in different orders may move an error by an ulp: the worst element
    # must not move with it (a parallel run gives the rows of a serial one).
    expected = np.full((2, 2), 2.0)
    actual = expected.copy()
    actual[0, 1] = 2.5
    actual[1, 1] = 2.5 if nudge == 0 else np.nextafter(2.5, 2.5 + nudge)
    assert compare("W1", actual, expected, "float64").worst_index == (0, 1)
