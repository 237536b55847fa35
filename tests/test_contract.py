"""An adapter that is wrong itself is told what the contract expects: layout mistakes in
what it returns, wrong return types, and mistakes in the class that show before any case runs."""

import pytest

from conformance import Adapter, Capabilities, Gradients
from conformance.contract.rules import class_problems
from conformance.running.targets import Target
from conformance.runner import run_case
from conformance.cases.spec import Case, NetworkSpec
from conformance.implementations.reference_numpy import ReferenceNumpy
from tests.faulty.adapters import WrongShape

VJP = Case(NetworkSpec.mlp([3, 4, 2], "tanh"), batch=4)
LOSS = Case(NetworkSpec.mlp([3, 4, 2], "tanh", "identity", loss="mse"), batch=4)


def rows_of(adapter: type, case: Case = VJP):
    return run_case(Target(adapter.__name__, adapter, "test"), case)


def details(rows, check: str | None = None) -> list[str]:
    return [r.detail for r in rows if r.verdict in ("fail", "error") and check in (None, r.check)]


class RowBiases(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, grads.weights, tuple(b.reshape(1, -1) for b in grads.biases))


class LastLayerFirst(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, grads.weights[::-1], grads.biases[::-1])


class OneLayerOnly(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, grads.weights[-1:], grads.biases[-1:])


class TransposedOutput(ReferenceNumpy):
    def forward(self, x):
        return super().forward(x).T


class TransposedInputGradient(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input.T, grads.weights, grads.biases)


@pytest.mark.parametrize("adapter, tensor, message", [
    (WrongShape, "weight[0]", "backward returned weight[0] of shape (3, 4); "
                                     "the contract expects (n_out, n_in) = (4, 3): transpose it in your adapter"),
    (WrongShape, "weight[1]", "backward returned weight[1] of shape (4, 2); "
                                     "the contract expects (n_out, n_in) = (2, 4): transpose it in your adapter"),
    (RowBiases, "bias[0]", "backward returned bias[0] of shape (1, 4); the contract expects (n_out,) = (4,): "
                           "flatten it in your adapter (.reshape(-1))"),
    (LastLayerFirst, "weight[*]", "backward returned the weight gradients in reverse order; "
                                  "the contract expects the first layer's first"),
    (OneLayerOnly, "weight[*]", "backward returned 1 weight gradients for a 2-layer network; "
                                "the contract expects one per layer"),
    (TransposedOutput, "output", "forward returned output of shape (2, 4); "
                                 "the contract expects (batch, n_out) = (4, 2): transpose it in your adapter"),
    (TransposedInputGradient, "input", "backward returned input of shape (3, 4); "
                                       "the contract expects (batch, n_in) = (4, 3): transpose it"),
])
def test_a_layout_mistake_says_what_the_contract_expects(adapter, tensor, message):
    contract = [r for r in rows_of(adapter) if r.check == "contract" and r.verdict == "fail"]
    assert any(r.tensor == tensor and message in r.detail for r in contract), [r.detail for r in contract]


def test_a_layout_mistake_in_the_loss_gradients_names_the_loss_method():
    class LossWithRowBiases(ReferenceNumpy):
        def loss(self, x, targets):
            value, grads = super().loss(x, targets)
            return value, Gradients(grads.input, grads.weights, tuple(b[None, :] for b in grads.biases))

    assert any("loss returned bias[1] of shape (1, 2)" in d for d in details(rows_of(LossWithRowBiases, LOSS)))


def test_a_layout_mistake_still_fails_the_gradient_itself():
    gradient_rows = [r for r in rows_of(WrongShape) if r.check == "gradient" and r.tensor == "weight[0]"]
    assert [r.verdict for r in gradient_rows] == ["fail"]


def test_a_correct_adapter_breaks_no_contract_rule_in_either_dtype():
    for case in (VJP, LOSS, Case(VJP.spec, 1, "float32"), Case(LOSS.spec, 4, "float32")):
        assert details(rows_of(ReferenceNumpy, case)) == []


class ReturnsNothing(ReferenceNumpy):
    def backward(self, grad_output):
        super().backward(grad_output)


class ReturnsAPlainTuple(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return grads.input, grads.weights, grads.biases


class WeightsAsOneArray(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, grads.weights[0], grads.biases)


@pytest.mark.parametrize("adapter, message", [
    (ReturnsNothing, "backward must return conformance.Gradients(input, weights, biases), got None "
                     "(does it only update the weights in place? return the gradients instead)"),
    (ReturnsAPlainTuple, "backward must return conformance.Gradients(input, weights, biases), got tuple; "
                         "wrap the three parts: Gradients(input, weights, biases)"),
    (WeightsAsOneArray, "Gradients.weights must be a tuple with one array per layer, got ndarray"),
])
def test_a_wrong_return_type_is_a_contract_failure_saying_what_to_return(adapter, message):
    rows = rows_of(adapter)
    assert [(r.check, r.verdict, r.detail) for r in rows] == [("contract", "fail", message)]


class InputGradientOfWrongShape(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input[:, :2], grads.weights, grads.biases)


class NoInputGradient(ReferenceNumpy):  # declares none the less that it computes it
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(None, grads.weights, grads.biases)


class NoneForAWeight(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, (None,) + grads.weights[1:], grads.biases)


class Float32Gradients(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, tuple(w.astype("float32") for w in grads.weights), grads.biases)


class IntegerOutput(ReferenceNumpy):
    def forward(self, x):
        return super().forward(x).round().astype(int)


class NaNGradient(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        weight = grads.weights[0].copy()
        weight[1, 2] = float("nan")
        return Gradients(grads.input, (weight,) + grads.weights[1:], grads.biases)


class InfiniteLoss(ReferenceNumpy):
    def loss(self, x, targets):
        _, grads = super().loss(x, targets)
        return float("inf"), grads


FLOAT32 = Case(NetworkSpec.mlp([3, 4, 2], "tanh"), batch=4, dtype="float32")


@pytest.mark.parametrize("adapter, case, tensor, message", [
    (InputGradientOfWrongShape, VJP, "input",
     "backward returned input: shape (4, 2); the contract expects (batch, n_in) = (4, 3)"),
    (NoInputGradient, VJP, "input",
     "backward returned input: None where an array of shape (batch, n_in) = (4, 3) is due"),
    (NoneForAWeight, VJP, "weight[0]",
     "backward returned weight[0]: None where an array of shape (n_out, n_in) = (4, 3) is due"),
    (Float32Gradients, VJP, "weight[1]", "backward returned weight[1]: dtype float32 in a float64 case; the contract "
                                         "expects float64 (an implementation that computes in float32 only declares "
                                         "Capabilities(dtypes={'float32'}))"),
    (IntegerOutput, VJP, "output",
     "forward returned output: dtype int64 in a float64 case; the contract expects float64"),
    (NaNGradient, VJP, "weight[0]",
     "backward returned weight[0]: a non-finite value (nan) at [1, 2]; the contract expects finite numbers"),
    (InfiniteLoss, LOSS, "loss",
     "loss returned loss: a non-finite value (inf) at []; the contract expects finite numbers"),
])
def test_a_returned_value_that_breaks_the_contract_is_a_contract_failure_and_its_comparisons_fail(
        adapter, case, tensor, message):
    rows = rows_of(adapter, case)
    assert [r.detail for r in rows if r.check == "contract" and r.verdict == "fail" and r.tensor == tensor] == [message]
    assert not [r for r in rows if r.verdict == "error"]
    compared = [r for r in rows if r.tensor == tensor and r.check in ("forward", "gradient", "loss")]
    assert compared and all(r.verdict == "fail" for r in compared)


@pytest.mark.parametrize("adapter", [InputGradientOfWrongShape, NoneForAWeight, NaNGradient])
def test_a_target_that_breaks_the_contract_fails_and_its_first_problem_names_the_contract(adapter):
    from conformance.check import check_target
    from conformance.reporting.verdicts import render_target

    result = check_target(Target(adapter.__name__, adapter, "test"), [VJP], isolate=False)
    assert result.verdict == "fail"
    lines = render_target(result).splitlines()
    assert "contract FAIL 1" in lines[1]
    first_problem = next(line for line in lines if " in 1 case, e.g. " in line)
    assert first_problem.startswith("  contract FAIL in 1 case, e.g. "), lines


class Float64InAFloat32Case(ReferenceNumpy):
    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input.astype("float64"), tuple(w.astype("float64") for w in grads.weights), grads.biases)


def test_a_float32_case_answered_in_float64_passes_with_a_note():
    rows = rows_of(Float64InAFloat32Case, FLOAT32)
    assert {r.verdict for r in rows} == {"pass"}
    (contract,) = [r for r in rows if r.check == "contract"]
    assert "note: input, weight[0], weight[1] returned more precise than the float32 case" in contract.detail


def adapter_class(**members) -> type:
    body = dict(build=lambda self, spec, params: None, forward=lambda self, x: x,
                backward=lambda self, grad_output: None) | members
    return type("Mine", (Adapter,), {k: v for k, v in body.items() if v is not None})


@pytest.mark.parametrize("cls, words", [
    (object, "is not an adapter: object does not subclass conformance.Adapter"),
    (adapter_class(backward=None), "does not implement backward(grad_output); the contract expects "
                                   "build(spec, params), forward(x) and backward(grad_output) -> Gradients"),
    (adapter_class(build=lambda self, spec: None), "Mine.build(self, spec) cannot be called as build(spec, params)"),
    (adapter_class(capabilities=Capabilities(activations={"Relu"})),
     "capabilities.activations names unknown 'Relu'; known: identity, relu, tanh, sigmoid"),
    (adapter_class(capabilities=Capabilities(activations=["tanh"])),
     "capabilities.activations must be a set of names such as {'identity'}, got list"),
    (adapter_class(capabilities=Capabilities(losses={"mse"})),
     "declares losses (mse) but does not implement loss(x, targets)"),
    (adapter_class(capabilities=Capabilities(vjp=False)), "declares vjp=False and no loss, so no case can run"),
    (adapter_class(capabilities={"activations": {"tanh"}}),
     "Mine.capabilities must be conformance.Capabilities(...), got dict"),
    (adapter_class(name=3), "Mine.name must be a string, got int"),
])
def test_a_mistake_in_the_adapter_class_is_one_line_saying_what_the_contract_expects(cls, words):
    problem = class_problems(cls, "my_adapter.py")
    assert problem is not None and words in problem and "\n" not in problem


def test_a_complete_adapter_class_has_no_problem():
    assert class_problems(ReferenceNumpy, "reference") is None
    assert class_problems(adapter_class(), "minimal") is None


def test_a_transposed_square_weight_gradient_has_the_right_shape_but_fails_on_its_values():
    square = Case(NetworkSpec.mlp([3, 4, 4, 2], "tanh"), batch=4)
    rows = rows_of(WrongShape, square)
    assert ([(r.check, r.verdict) for r in rows if r.tensor == "weight[1]"]
            == [("gradient", "fail"), ("fd_entry", "fail")])
    assert "got" in next(r.detail for r in rows if r.tensor == "weight[1]")


def test_a_capabilities_field_that_does_not_exist_names_the_valid_ones():
    from conformance.contract.adapter import FIELD_DOCS

    with pytest.raises(TypeError) as raised:
        Capabilities(activation={"tanh"})
    assert str(raised.value) == ("Capabilities has no field 'activation' (did you mean 'activations'?); valid fields: "
                                 + ", ".join(FIELD_DOCS))


def test_every_capabilities_field_is_documented_with_the_contract_and_listed_by_its_fields():
    import dataclasses
    from pathlib import Path

    from conformance.contract.adapter import FIELD_DOCS

    assert [f.name for f in dataclasses.fields(Capabilities)] == list(FIELD_DOCS)
    assert list(Capabilities().fields()) == list(FIELD_DOCS)
    readme = (Path(__file__).resolve().parent.parent / "docs" / "adapter.md").read_text()  # the contract, in one place
    for name in [*FIELD_DOCS, "supports"]:
        assert f"| `{name}`" in readme or f"| `{name}(" in readme, name


class LossOnly(Adapter):
    """An implementation with nothing but its own loss: no backward at all."""

    name = "loss_only"
    capabilities = Capabilities(vjp=False, losses=frozenset({"mse"}))

    def build(self, spec, params):
        self.inner = ReferenceNumpy()
        self.inner.build(spec, params)

    def forward(self, x):
        return self.inner.forward(x)

    def loss(self, x, targets):
        return self.inner.loss(x, targets)


def test_a_loss_only_adapter_may_leave_backward_out():
    assert class_problems(LossOnly, "loss_only.py") is None
    assert {r.verdict for r in rows_of(LossOnly, LOSS)} == {"pass"}
    (only,) = rows_of(LossOnly, VJP)
    assert only.verdict == "not_applicable"
