"""Tolerances and comparison messages: rounding passes, real bugs fail, messages say where."""

import numpy as np
import pytest

from conformance.compare import compare, tolerance_for


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
