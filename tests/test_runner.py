"""Running cases end to end: the reference passes; a one-line bug fails and is named."""

import numpy as np
import pytest

from conformance.running.targets import Target
from conformance.runner import run_case
from conformance.cases.spec import Case, NetworkSpec
from conformance.cases.grid import default_grid
from conformance.implementations.reference_numpy import MLP, ReferenceNumpy, activation_derivative


class BiasNotSummedMLP(MLP):
    """The reference with one line broken: the bias gradient is not summed over the batch."""

    def backward(self, grad_output):
        grad_w, grad_b = [None] * len(self.weights), [None] * len(self.weights)
        grad = grad_output
        for i in reversed(range(len(self.weights))):
            delta = grad * activation_derivative(self.activations[i], self.pre[i], self.post[i])
            grad_w[i] = delta.T @ self.inputs[i]
            grad_b[i] = None if self.biases[i] is None else delta  # the bug: no .sum(axis=0)
            grad = delta @ self.weights[i]
        return grad, grad_w, grad_b


class BiasNotSummed(ReferenceNumpy):
    name = "bias_not_summed"

    def build(self, spec, params):
        super().build(spec, params)
        self.net = BiasNotSummedMLP(params.weights, params.biases, [layer.activation for layer in spec.layers])


class DoubledWeightGradient(ReferenceNumpy):
    name = "doubled"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return type(grads)(grads.input, (2 * grads.weights[0],) + grads.weights[1:], grads.biases)


REFERENCE = Target("reference_numpy", ReferenceNumpy, "test")


@pytest.mark.slow  # on the smoke and quick grids, the per-case suite (test_conformance) is this test
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_reference_passes_every_case_of_the_grid(dtype):
    rows = [r for case in default_grid() if case.dtype == dtype for r in run_case(REFERENCE, case)]
    assert rows and all(r.verdict == "pass" for r in rows), [r.detail for r in rows if r.verdict != "pass"][:5]


def test_dropping_the_bias_sum_fails_and_names_the_bias_tensor():
    case = Case(NetworkSpec.mlp([3, 4, 2], "tanh"), batch=4)
    rows = run_case(Target("bias_not_summed", BiasNotSummed, "test"), case)
    failed = {r.tensor: r.message for r in rows if r.verdict == "fail" and r.check == "gradient"}
    assert set(failed) == {"bias[0]", "bias[1]"}
    fd_failed = {(r.check, r.tensor) for r in rows if r.verdict == "fail" and r.check.startswith("fd_")}
    assert fd_failed == {("fd_directional", "*"), ("fd_entry", "bias[0]"), ("fd_entry", "bias[1]")}
    assert failed["bias[0]"].startswith("bias[0]: shape (4, 4), expected (4,); diagnosis: bias[0], bias[1] not summed "
                                        "over the batch")


def test_a_doubled_weight_gradient_fails_with_both_values_and_the_worst_index():
    case = Case(NetworkSpec.mlp([3, 4, 2], "sigmoid"), batch=4, dtype="float32")
    rows = run_case(Target("doubled", DoubledWeightGradient, "test"), case)
    failed = {(r.check, r.tensor): r for r in rows if r.verdict == "fail"}
    assert set(failed) == {("gradient", "weight[0]"), ("fd_entry", "weight[0]"), ("fd_directional", "*")}
    failed = failed["gradient", "weight[0]"]
    assert failed.worst_index and "got" in failed.detail and "PyTorch" in failed.detail
    assert failed.max_rel_error == pytest.approx(1.0, rel=1e-3)


def test_an_unsupported_case_is_not_applicable_with_the_adapters_reason():
    class TanhOnly(ReferenceNumpy):
        capabilities = ReferenceNumpy.capabilities.__class__(activations=frozenset({"tanh"}))

    (only,) = run_case(Target("tanh_only", TanhOnly, "test"), Case(NetworkSpec.mlp([3, 4, 2], "relu"), 1))
    assert only.verdict == "not_applicable" and only.detail == "no relu hidden activation"


def test_an_exception_in_the_implementation_is_an_error_row_naming_its_frame():
    class Raises(ReferenceNumpy):
        def backward(self, grad_output):
            return np.linalg.inv(np.zeros((2, 2)))

    (only,) = run_case(Target("raises", Raises, "test"), Case(NetworkSpec.mlp([3, 2], "tanh"), 1))
    assert only.verdict == "error"
    assert only.detail.startswith("LinAlgError: Singular matrix") and "test_runner.py" in only.detail


def test_the_implementation_gets_copies_so_the_cases_data_stays_intact():
    class Scribbles(ReferenceNumpy):
        def build(self, spec, params):
            super().build(spec, params)
            params.weights[0][...] = 0.0

    case = Case(NetworkSpec.mlp([3, 4, 2], "tanh"), batch=2)
    run_case(Target("scribbles", Scribbles, "test"), case)
    assert all(r.verdict == "pass" for r in run_case(REFERENCE, case))
