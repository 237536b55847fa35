"""Checking a function with a hand-written backward (``conformance.check_function``): correct
ones pass in float32 and float64, kinks included, and each planted bug fails with the element,
both values, the tolerance and its cause."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conformance import Index, Mask, assert_gradients, check_function
from conformance.examples.custom_ops import (LinearGelu, affine_relu_backward, affine_relu_forward,
                                             linear_gelu_reference)
from tests.faulty import functions as faulty

ROOT = Path(__file__).resolve().parent.parent
GELU_INPUTS = {"x": (4, 8), "w": (3, 8), "b": (3,)}
AFFINE_INPUTS = {"x": (5, 4), "w": (4, 3), "b": (3,)}


def failing(report):
    return [r for r in report.rows if r.verdict == "fail"]


def test_a_correct_float32_function_passes_where_gradcheck_at_its_defaults_fails():
    torch.manual_seed(0)
    x, w, b = (torch.randn(*s, requires_grad=True) for s in GELU_INPUTS.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gradcheck warns that float32 will likely fail
        with pytest.raises(RuntimeError, match="Jacobian mismatch"):
            torch.autograd.gradcheck(LinearGelu.apply, (x, w, b))
    report = check_function(LinearGelu, x, w, b)
    assert report.passed, report.message
    assert {r.dtype for r in report.rows} == {"float32"}
    assert {r.check for r in report.rows} == {"fd_directional", "contract"}  # given inputs: gradcheck's cost


def test_generated_inputs_cover_two_shapes_in_both_dtypes_with_the_reference():
    report = check_function(LinearGelu, inputs=GELU_INPUTS, reference=linear_gelu_reference)
    assert report.passed, report.message
    runs = {(r.layers, r.dtype) for r in report.rows}
    assert {dtype for _, dtype in runs} == {"float64", "float32"}
    assert len({layers for layers, _ in runs}) == 2
    assert "x5x9 w4x9 b4" in {layers for layers, _ in runs}  # tied sizes stay tied
    assert {r.check for r in report.rows} >= {"forward", "gradient", "fd_directional", "fd_entry"}


@pytest.mark.parametrize("function, tensor, cause", [
    pytest.param(faulty.LinearGeluMissingTerm, "x", "misses a term", id="GELU's derivative missing a term"),
    pytest.param(faulty.LinearGeluDoubleWeight, "w", "w's gradient is ×2", id="the weight's gradient doubled"),
    pytest.param(faulty.LinearGeluWrongSign, "x", "wrong sign", id="the input's gradient with the wrong sign"),
    pytest.param(faulty.TransposedWeight, "w", "transpose", id="a square weight's gradient transposed"),
    pytest.param(faulty.Product, "x", "only x's gradient is wrong", id="a term one input's gradient alone lacks"),
])
def test_a_wrong_backward_fails_with_the_element_both_values_and_the_cause(function, tensor, cause):
    inputs = {"x": (3, 5), "w": (5, 5)} if function is faulty.TransposedWeight else \
        {"x": (3, 5), "y": (3, 5)} if function is faulty.Product else GELU_INPUTS
    report = check_function(function, inputs=inputs, dtypes=["float32"], shapes=1)
    assert not report.passed
    entry = next(r for r in failing(report) if r.check == "fd_entry" and r.tensor == tensor)
    index = [int(i) for i in entry.worst_index.strip("[]").split(",")]
    assert len(index) == len(inputs[tensor])
    assert f"{tensor}{index}: got" in entry.detail and "finite difference" in entry.detail
    assert "tolerance" in entry.detail
    assert cause in entry.diagnosis
    with pytest.raises(AssertionError, match="GRADIENTS WRONG"):
        assert_gradients(function, inputs=inputs, dtypes=["float32"], shapes=1)


def test_a_numpy_layer_pair_passes_and_its_bias_averaged_over_the_batch_is_named():
    assert check_function(affine_relu_forward, inputs=AFFINE_INPUTS, backward=affine_relu_backward).passed
    report = check_function(affine_relu_forward, inputs=AFFINE_INPUTS, backward=faulty.affine_relu_backward_bias_mean,
                            shapes=1, dtypes=["float32"])
    entry = next(r for r in failing(report) if r.check == "fd_entry")
    assert entry.tensor == "b" and "1/5" in entry.diagnosis and "only b's gradient is wrong" in entry.diagnosis


def test_a_bias_gradient_not_summed_over_the_batch_is_named_a_missing_reduction():
    report = check_function(affine_relu_forward, inputs=AFFINE_INPUTS, shapes=1, dtypes=["float64"],
                            backward=faulty.affine_relu_backward_unsummed_bias)
    row = next(r for r in failing(report) if r.check == "contract")
    assert row.tensor == "b" and "missing reduction" in row.diagnosis
    assert "shape (5, 3), expected (3,)" in row.detail


def test_a_gradient_that_accumulates_across_calls_is_named():
    faulty.Accumulates.buffer = None
    report = check_function(faulty.Accumulates, inputs={"x": (3, 5)}, shapes=1, dtypes=["float64"])
    row = next(r for r in failing(report) if r.check == "contract")
    assert "called again" in row.tensor and "call history" in row.diagnosis


class CS231nAffine:
    """A layer object in CS231n's style: parameters in ``params``, gradients in ``grads``."""

    def __init__(self, bug: float = 1.0):
        rng = np.random.default_rng(0)
        self.params = {"W": rng.standard_normal((4, 3)), "b": np.zeros(3)}
        self.grads, self.bug = {}, bug

    def forward(self, x):
        self.cache = x
        return np.tanh(x @ self.params["W"] + self.params["b"])

    def backward(self, dout):
        x = self.cache
        out = np.tanh(x @ self.params["W"] + self.params["b"])
        da = dout * (1 - out ** 2)
        self.grads = {"W": x.T @ da, "b": da.sum(0) * self.bug}
        return da @ self.params["W"].T


def test_a_layer_object_has_its_parameters_differentiated_too_and_keeps_its_own():
    layer = CS231nAffine()
    own = {name: value.copy() for name, value in layer.params.items()}
    for seed in range(2):  # twice: the second check starts from the layer as it was
        assert check_function(layer, inputs={"x": (5, 4)}, seed=seed).passed
    assert all(np.array_equal(layer.params[name], value) for name, value in own.items())
    report = check_function(CS231nAffine(bug=0.5), inputs={"x": (5, 4)}, shapes=1, dtypes=["float64"])
    assert "b's gradient is ×1/2" in next(r for r in failing(report) if r.check == "fd_entry").diagnosis


def gather_scale(x, idx, mask):
    """Indices and a mask among the inputs, and two outputs."""
    picked = x[torch.arange(x.shape[0]), idx]
    return picked * 2.0, torch.where(mask, x, 0.0).sum(1)


def test_indices_and_masks_are_inputs_not_differentiated_and_several_outputs_are_summed():
    inputs = {"x": (4, 6), "idx": Index((4,), high=6), "mask": Mask((4, 6))}
    report = check_function(gather_scale, inputs=inputs)
    assert report.passed, report.message
    assert {r.tensor for r in report.rows if r.check == "fd_directional"} == {"*"}


@pytest.mark.parametrize("function, inputs", [
    pytest.param(torch.abs, {"a": (200,)}, id="abs"),
    pytest.param(torch.relu, {"a": (20, 30)}, id="relu"),
    pytest.param(lambda a, b: torch.maximum(a.float(), b.float()), {"a": (10, 12), "b": (10, 12)},
                 id="max, computed in float32 only"),
])
def test_kinked_functions_at_pinned_random_points_raise_no_false_alarm(function, inputs):
    for seed in range(3):
        report = check_function(function, inputs=inputs, seed=seed, name="kinked")
        assert report.passed, report.message


def test_a_mask_missing_from_relus_backward_is_caught():
    report = check_function(affine_relu_forward, inputs=AFFINE_INPUTS, backward=faulty.affine_relu_backward_no_mask,
                            shapes=1, dtypes=["float64"])
    assert any(r.check == "fd_entry" for r in failing(report))


def test_the_reference_catches_a_forward_that_means_another_function():
    def tanh_gelu(x, w, b):  # GELU's tanh approximation: consistent with itself, not with erf's GELU
        z = x @ w.t() + b
        return 0.5 * z * (1 + torch.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))

    report = check_function(tanh_gelu, inputs=GELU_INPUTS, reference=linear_gelu_reference, shapes=1,
                            dtypes=["float64"])
    assert {r.check for r in failing(report)} == {"forward", "gradient"}


def test_bad_input_descriptions_are_one_line_errors():
    with pytest.raises(ValueError, match="every size must be positive"):
        check_function(torch.relu, inputs={"a": (0, 3)})
    with pytest.raises(ValueError, match="describe them"):
        check_function(torch.relu)


def test_a_file_declares_its_functions_in_a_literal_read_without_running_it(tmp_path):
    from conformance.functions import template
    from conformance.functions.declared import DeclarationError, declares_functions, read_declarations

    path = template.write(tmp_path / "ops.py")
    assert declares_functions(path) and not declares_functions(ROOT / "conformance/examples/numpy_mlp.py")
    declared = {d.name: d for d in read_declarations(path)}
    assert declared["affine_forward"].backward == "affine_backward"
    assert [s.name for s in declared["Square"].specs] == ["x"]
    for text, words in [
        ("FUNCTIONS = {'f': {'inputs': {'x': (3,)}, 'colour': 1}}", "unknown keys ['colour']"),
        ("FUNCTIONS = {'f': {'inputs': {'i': ('index', (3,))}}}", "('index', shape, high)"),
        ("FUNCTIONS = {'f': {'inputs': {'x': (3,)}, 'dtypes': ['float16']}}", "dtypes are float64"),
        ("FUNCTIONS = dict(f=1)", "must be a plain literal"),
    ]:
        (tmp_path / "bad.py").write_text(text + "\n")
        with pytest.raises(DeclarationError, match=re.escape(words)):
            read_declarations(tmp_path / "bad.py")


def test_a_torch_function_runs_on_the_device_it_is_given():
    seen = set()

    def on_device(x):
        seen.add(x.device.type)
        return torch.tanh(x)

    assert check_function(on_device, inputs={"x": (3, 4)}, device="cpu", shapes=1).passed
    assert seen == {"cpu"}


def test_a_description_may_give_one_example_per_input_and_gets_other_shapes_and_dtypes():
    example = {"x": torch.randn(4, 6), "idx": torch.tensor([0, 5, 2, 1]), "mask": torch.rand(4, 6) < 0.5}
    report = check_function(gather_scale, inputs=example)
    assert report.passed, report.message
    assert {r.layers for r in report.rows} == {"x4x6 idx4(index) mask4x6(mask)", "x5x7 idx5(index) mask5x7(mask)"}
    assert {r.dtype for r in report.rows} == {"float64", "float32"}


def test_a_backward_with_noise_beyond_rounding_is_named_non_deterministic():
    report = check_function(faulty.Noisy, inputs={"x": (20,)}, shapes=1, dtypes=["float64"])
    row = next(r for r in failing(report) if r.check == "contract")
    assert row.tensor == "x (called again)" and "non-deterministic beyond rounding" in row.diagnosis
