"""Mutants of ``reference_numpy`` for the self-audit: each one the reference with exactly one
bug, and the diagnosis that bug should get.

They live in the harness, not in ``implementations/``: they are the audit's
instruments, not implementations under test. Kept out of that folder, they are
never picked up by ``conformance check implementations/`` or a folder glob,
and their expected diagnoses (which name the harness's own finding kinds) sit
next to the machinery that measures them.

``Mutable`` is the reference network written with one overridable method per
step of its forward and backward; a mutant overrides one step. Layers are
chosen by position (first, middle, last) so that each bug sits where its name
says, on every depth of the grid that has such a layer.

Longer than 300 lines: one short class per mutant (27 of them), each a single overridden
step, kept side by side so that the list of bugs the audit plants reads as one page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from conformance.audit import sequence_mutants
from conformance.audit.showcases import SHOWS_IN
from conformance.cases.layer_grid import L2
from conformance.contract.adapter import Capabilities, Gradients
from conformance.diagnosis.diagnose import Finding, matches
from conformance.cases.spec import Case, LOSSES, NetworkSpec, Params
from conformance.implementations.reference_numpy import (MLP, ReferenceNumpy, activate, activation_derivative,
                                                          loss_and_gradient)


class Mutable(MLP):
    """The reference MLP, one method per step; unchanged, it computes exactly what the reference does."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.inputs, self.pre, self.post = [], [], []
        a = x
        for i, (w, b, name) in enumerate(zip(self.weights, self.biases, self.activations)):
            self.inputs.append(a)
            z = self.affine(i, a, w, b)
            a = self.activate(i, name, z)
            self.pre.append(z)
            self.post.append(a)
        return a

    def backward(self, grad_output: np.ndarray):
        depth = len(self.weights)
        grad_w, grad_b = [None] * depth, [None] * depth
        grad = grad_output
        for i in reversed(range(depth)):
            self.reaching = grad  # the gradient at layer i's output, for a mutant to misuse
            delta = grad * self.derivative(i, self.activations[i], self.pre[i], self.post[i])
            grad_w[i] = self.weight_gradient(i, delta, self.inputs[i])
            grad_b[i] = None if self.biases[i] is None else self.bias_gradient(i, delta)
            grad = self.passed_down(i, delta, self.weights[i], grad_w[i])
        return grad, grad_w, grad_b

    @property
    def last(self) -> int:
        return len(self.weights) - 1

    def affine(self, i, a, w, b):
        return a @ w.T if b is None else a @ w.T + b

    def activate(self, i, name, z):
        return activate(name, z)

    def derivative(self, i, name, z, a):
        return activation_derivative(name, z, a)

    def weight_gradient(self, i, delta, inputs):
        return delta.T @ inputs

    def bias_gradient(self, i, delta):
        return delta.sum(axis=0)

    def passed_down(self, i, delta, w, grad_w):
        return delta @ w

    def loss_gradient(self, name, y, targets):
        return loss_and_gradient(name, y, targets)


class MutantAdapter(ReferenceNumpy):
    """The reference adapter around a ``Mutable`` network (``network`` names the subclass)."""

    network: type[Mutable] = Mutable
    #: The MLP bugs run on MLPs only (the layer-sequence mutants are ``sequence_mutants``').
    capabilities = Capabilities(losses=frozenset(LOSSES))

    def build(self, spec: NetworkSpec, params: Params) -> None:
        self.loss_name = spec.loss
        self.net = self.network([w.copy() for w in params.weights], params.biases,
                                [layer.activation for layer in spec.layers])

    def loss(self, x: np.ndarray, targets: np.ndarray) -> tuple[float, Gradients]:
        loss, grad_output = self.net.loss_gradient(self.loss_name, self.forward(x), targets)
        return loss, self.backward(grad_output)


# ---- the bugs --------------------------------------------------------------------------------------

def _z_derivative(name, z):
    return activation_derivative(name, z, activate(name, z))


class LossGradientMissesMean(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, grad * y.size if name in ("mse", "half_mse") else grad


class LossGradientMissesOutputs(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, grad * y.shape[1] if name in ("mse", "half_mse") else grad


class LossGradientSign(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, -grad


class HalfLossGradientDoubled(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, 2 * grad if name in ("half_sse", "half_mse") else grad


class CrossEntropyMissesBatchMean(Mutable):
    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss, grad * len(y) if name == "softmax_cross_entropy" else grad


class LastBiasNotSummed(Mutable):
    def bias_gradient(self, i, delta):
        return delta.copy() if i == self.last else delta.sum(axis=0)


class FirstBiasAveraged(Mutable):
    def bias_gradient(self, i, delta):
        return delta.mean(axis=0) if i == 0 else delta.sum(axis=0)


class FirstWeightGradientTransposed(Mutable):
    def weight_gradient(self, i, delta, inputs):
        return inputs.T @ delta if i == 0 else delta.T @ inputs


class LastWeightGradientAveraged(Mutable):
    def weight_gradient(self, i, delta, inputs):
        return delta.T @ inputs / (len(delta) if i == self.last else 1)


class MiddleTransposedWeightInBackward(Mutable):
    """Only where layer 1 is square: elsewhere Wᵀ has the wrong shape and the bug is a crash
    that no one ships (and the suite reports as an error, not as this bug)."""

    def passed_down(self, i, delta, w, grad_w):
        square = w.shape[0] == w.shape[1]
        return delta @ w.T if i == 1 and 0 < i < self.last and square else delta @ w


class DerivativeAtOutput(Mutable):
    def derivative(self, i, name, z, a):
        return _z_derivative(name, a)


class FirstDerivativeFormulaAtPreactivation(Mutable):
    def derivative(self, i, name, z, a):
        return activation_derivative(name, z, z) if i == 0 else activation_derivative(name, z, a)


class LastDerivativeMissing(Mutable):
    def derivative(self, i, name, z, a):
        return np.ones_like(z) if i == self.last else activation_derivative(name, z, a)


class SigmoidUsesTanhDerivative(Mutable):
    def derivative(self, i, name, z, a):
        return _z_derivative("tanh", z) if name == "sigmoid" else activation_derivative(name, z, a)


class FirstForwardUsesDerivative(Mutable):
    """Seed 002's bug, in the first layer: the forward applies the activation's derivative."""

    def activate(self, i, name, z):
        return _z_derivative(name, z) if i == 0 else activate(name, z)

    def derivative(self, i, name, z, a):
        return _z_derivative(name, z)


class FirstForwardWithoutBias(Mutable):
    def affine(self, i, a, w, b):
        return a @ w.T if i == 0 or b is None else a @ w.T + b


class LastPassesDownNegated(Mutable):
    def passed_down(self, i, delta, w, grad_w):
        return -(delta @ w) if i == self.last and i > 0 else delta @ w


class LastUpdatedBeforePassingDown(Mutable):
    """Updates its last layer's weights in place (SGD, rate 0.5) before passing the gradient down."""

    RATE = 0.5

    def passed_down(self, i, delta, w, grad_w):
        if i == self.last:
            w -= self.RATE * grad_w.astype(w.dtype)
        return delta @ w


class DerivativeOneLayerOff(Mutable):
    """Seed 003's recursion: a hidden layer's derivative taken at the next layer's
    pre-activation. Where the two widths differ the seed's shapes clash; here the layer
    then keeps its own, so the bug shows wherever it can run."""

    def derivative(self, i, name, z, a):
        above = self.pre[i + 1] if i < self.last else z
        return _z_derivative(name, above if above.shape == z.shape else z)


class TanhDerivativeNotSquared(Mutable):
    """``1 - a`` written for tanh's derivative instead of ``1 - a**2``."""

    def derivative(self, i, name, z, a):
        return 1 - a if name == "tanh" else activation_derivative(name, z, a)


class AllUpdatedBeforePassingDown(Mutable):
    """Every layer updates its weights in place (SGD, rate 0.5) before passing the gradient down."""

    RATE = 0.5

    def passed_down(self, i, delta, w, grad_w):
        w -= self.RATE * grad_w.astype(w.dtype)
        return delta @ w


class InputGradientSkipsFirstDerivative(Mutable):
    """The input gradient is the gradient at the first layer's output times W, its activation
    derivative skipped; the first layer's weight and bias gradients are right."""

    def passed_down(self, i, delta, w, grad_w):
        return (self.reaching if i == 0 else delta) @ w


class LossPlusConstant(Mutable):
    """The loss value reported is the right one plus 0.1 (its gradient is right)."""

    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        return loss + 0.1, grad


class LossIsSumOfSquaredGradients(Mutable):
    """The softmax cross-entropy reported as the sum of its squared gradient (the gradient is
    right). Only there: for the squared-error losses that sum is a constant times the loss
    (4× for sse), which a factor rightly describes."""

    def loss_gradient(self, name, y, targets):
        loss, grad = loss_and_gradient(name, y, targets)
        if name != "softmax_cross_entropy":
            return loss, grad
        return float(np.sum(grad.astype(np.float64) ** 2)), grad


class AccumulatesGradients(Mutable):
    """Weight and bias gradients added to stored ones on every backward, never zeroed."""

    def weight_gradient(self, i, delta, inputs):
        stored = self.__dict__.setdefault("stored_w", {})
        stored[i] = stored.get(i, 0) + delta.T @ inputs
        return stored[i]

    def bias_gradient(self, i, delta):
        stored = self.__dict__.setdefault("stored_b", {})
        stored[i] = stored.get(i, 0) + delta.sum(axis=0)
        return stored[i]


class StaleInputCache(Mutable):
    """Keeps the first forward's input and differentiates the first layer with it ever after."""

    def forward(self, x):
        self.__dict__.setdefault("first_input", x.copy())
        out = super().forward(x)
        self.inputs[0] = self.first_input
        return out


class LastWeightGradientFromPreactivation(Mutable):
    """A bug outside the hypothesis library: the last layer's weight gradient takes the layer
    below's pre-activation where its activation (this layer's input) belongs."""

    def weight_gradient(self, i, delta, inputs):
        return delta.T @ (self.pre[i - 1] if i == self.last and i > 0 else inputs)


# ---- expectations ----------------------------------------------------------------------------------

def _last(spec: NetworkSpec) -> tuple[int, ...]:
    return (spec.depth - 1,)


def _smooth_layers(spec: NetworkSpec) -> tuple[int, ...]:
    return tuple(i for i, layer in enumerate(spec.layers) if layer.activation in ("tanh", "sigmoid"))


def _sigmoid_layers(spec: NetworkSpec) -> tuple[int, ...]:
    return tuple(i for i, layer in enumerate(spec.layers) if layer.activation == "sigmoid")


#: The expected diagnosis of a bug no hypothesis describes: none named.
UNEXPLAINED = "unexplained"


@dataclass(frozen=True)
class Expected:
    """The finding a mutant's failing cases should get (fields as in ``diagnose.Finding``;
    layers, tensors and factor may depend on the case)."""

    kind: str
    layers: Callable[[NetworkSpec], tuple[int, ...]] | None = None
    tensors: Callable[[NetworkSpec], tuple[str, ...]] | None = None
    factor: Callable[[Case], float] | None = None
    variant: str = ""
    #: Where and how much, in words, for the audit's table.
    where: str = ""
    #: For a bug the contract's repeated calls must find: words its failing contract rows say.
    contract: str = ""

    def met(self, findings: tuple[Finding, ...] | None, rows, case: Case) -> bool:
        """Whether a failing case's diagnosis (None: none was made) and rows are what was expected."""
        if self.contract:
            return any(r.check == "contract" and r.unexpected and self.contract in r.detail for r in rows)
        return findings is not None and self.met_by(findings, case)

    def met_by(self, findings: tuple[Finding, ...], case: Case) -> bool:
        spec = case.spec
        if self.kind == UNEXPLAINED:
            return not [f for f in findings if f.kind != "wrong_dtype"]
        return matches(findings, self.kind, self.layers(spec) if self.layers else None,
                       self.tensors(spec) if self.tensors else None,
                       self.factor(case) if self.factor else None, self.variant)

    def __str__(self) -> str:
        return " ".join(part for part in (self.kind, self.variant, self.where) if part)


def _tanh_layers(spec: NetworkSpec) -> tuple[int, ...]:
    return tuple(i for i, layer in enumerate(spec.layers) if layer.activation == "tanh")


def _every_layer(spec: NetworkSpec) -> tuple[int, ...]:
    return tuple(range(spec.depth))


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    network: type[Mutable] | None
    expected: Expected
    #: A layer-sequence mutant's adapter class (``sequence_mutants.adapter``), in place of ``network``.
    built: type[ReferenceNumpy] | None = None
    #: A case where the bug shows (``audit.showcases``): the smoke audit runs the mutant on it.
    shows_in: Case | None = None

    def adapter(self) -> type[ReferenceNumpy]:
        if self.built is not None:
            return self.built
        return type(f"Mutant_{self.name}", (MutantAdapter,), {
            "name": f"mutant:{self.name}", "description": self.bug, "network": self.network,
            "__module__": __name__})


def _outputs(case: Case) -> int:
    return case.spec.layers[-1].n_out


MUTANTS = (
    Mutant("loss_gradient_misses_mean", "MSE gradients without the mean's 1/(batch·outputs)", LossGradientMissesMean,
           Expected("scaled_gradient", _last, factor=lambda c: c.batch * _outputs(c),
                    where="loss gradient ×batch·outputs")),
    Mutant("loss_gradient_misses_outputs", "MSE gradients divided by the batch only", LossGradientMissesOutputs,
           Expected("scaled_gradient", _last, factor=_outputs, where="loss gradient ×outputs")),
    Mutant("loss_gradient_sign", "loss gradient target − output", LossGradientSign,
           Expected("scaled_gradient", _last, factor=lambda c: -1.0, where="loss gradient ×−1")),
    Mutant("half_loss_gradient_doubled", "half losses' gradient keeps the square's 2", HalfLossGradientDoubled,
           Expected("scaled_gradient", _last, factor=lambda c: 2.0, where="loss gradient ×2")),
    Mutant("cross_entropy_misses_batch_mean", "softmax cross-entropy gradient not divided by the batch",
           CrossEntropyMissesBatchMean,
           Expected("scaled_gradient", _last, factor=lambda c: float(c.batch), where="loss gradient ×batch")),
    Mutant("last_bias_not_summed", "last layer's bias gradient is delta itself, (batch, n)", LastBiasNotSummed,
           Expected("not_reduced_over_batch", tensors=lambda s: (f"bias[{s.depth - 1}]",), where="last bias")),
    Mutant("first_bias_averaged", "first layer's bias gradient is the batch mean, not the sum", FirstBiasAveraged,
           Expected("tensor_factor", tensors=lambda s: ("bias[0]",), factor=lambda c: 1 / c.batch,
                    where="bias[0] ×1/batch")),
    Mutant("first_weight_gradient_transposed", "first layer's weight gradient is inputᵀ·delta, (n_in, n_out)",
           FirstWeightGradientTransposed,
           Expected("transposed_gradient", tensors=lambda s: ("weight[0]",), where="weight[0]")),
    Mutant("last_weight_gradient_averaged", "last layer's weight gradient divided by the batch",
           LastWeightGradientAveraged,
           Expected("tensor_factor", tensors=lambda s: (f"weight[{s.depth - 1}]",), factor=lambda c: 1 / c.batch,
                    where="last weight ×1/batch")),
    Mutant("middle_transposed_weight_in_backward", "layer 1 (square, hidden) passes the gradient down through Wᵀ",
           MiddleTransposedWeightInBackward,
           Expected("transposed_weight_in_backward", lambda s: (1,), where="layer 1")),
    Mutant("derivative_at_output", "tanh/sigmoid derivative evaluated at the output instead of the pre-activation",
           DerivativeAtOutput, Expected("derivative_at_output", _smooth_layers, where="tanh/sigmoid layers")),
    Mutant("first_derivative_formula_at_preactivation", "first layer: 1 − z² (tanh) / z(1 − z) (sigmoid)",
           FirstDerivativeFormulaAtPreactivation,
           Expected("derivative_formula_at_preactivation", lambda s: (0,), where="layer 0")),
    Mutant("last_derivative_missing", "last layer's activation derivative left out", LastDerivativeMissing,
           Expected("missing_derivative", _last, where="last layer")),
    Mutant("sigmoid_uses_tanh_derivative", "sigmoid layers multiply by 1 − tanh(z)²", SigmoidUsesTanhDerivative,
           Expected("other_derivative", _sigmoid_layers, variant="tanh", where="sigmoid layers")),
    Mutant("first_forward_uses_derivative", "first layer's forward applies the activation's derivative (seed 002)",
           FirstForwardUsesDerivative, Expected("forward_uses_derivative", lambda s: (0,), where="layer 0")),
    Mutant("first_forward_without_bias", "first layer's forward leaves out the bias", FirstForwardWithoutBias,
           Expected("forward_without_bias", lambda s: (0,), where="layer 0")),
    Mutant("last_passes_down_negated", "last layer passes −delta·W down", LastPassesDownNegated,
           Expected("scaled_gradient", lambda s: (s.depth - 2,), factor=lambda c: -1.0,
                    where="from the layer below the last, ×−1")),
    Mutant("last_updated_before_passing_down", "last layer's SGD step (rate 0.5) before it passes the gradient down",
           LastUpdatedBeforePassingDown, Expected("updated_weights_in_backward", _last, where="last layer")),
    Mutant("derivative_one_layer_off", "hidden layers' derivative at the next layer's pre-activation (seed 003)",
           # Which of those layers show it depends on the data: where two ReLU layers' masks agree, the
           # derivative one layer up is the same, so the kind is what must be named, not the layers.
           DerivativeOneLayerOff, Expected("derivative_one_layer_off", where="equally wide hidden layers")),
    Mutant("tanh_derivative_not_squared", "tanh layers' derivative written 1 − a instead of 1 − a²",
           TanhDerivativeNotSquared, Expected("tanh_derivative_not_squared", _tanh_layers, where="tanh layers")),
    Mutant("all_updated_before_passing_down", "every layer's SGD step (rate 0.5) before it passes the gradient down",
           AllUpdatedBeforePassingDown, Expected("updated_weights_in_backward", _every_layer, where="every layer")),
    Mutant("input_gradient_skips_first_derivative", "the input gradient skips the first layer's activation "
           "derivative (weights right)", InputGradientSkipsFirstDerivative,
           Expected("input_gradient_skips_derivative", lambda s: (0,), where="layer 0, input only")),
    Mutant("loss_plus_constant", "the loss value reported is the right one + 0.1", LossPlusConstant,
           Expected(UNEXPLAINED, where="a wrong loss value: no factor explains it")),
    Mutant("cross_entropy_is_sum_of_squared_gradients", "the cross-entropy reported is Σ(dL/dy)²",
           LossIsSumOfSquaredGradients,
           Expected(UNEXPLAINED, where="a wrong loss value: no factor explains it")),
    Mutant("accumulates_gradients", "weight and bias gradients added to stored ones, never zeroed",
           AccumulatesGradients, Expected("contract", contract="gradients accumulate between calls",
                                          where="the contract's repeated calls: accumulation")),
    Mutant("stale_input_cache", "the first layer differentiated with the first forward's input ever after",
           StaleInputCache, Expected("contract", contract="stale state", where="the contract's repeated calls")),
    # Outside the library, the right diagnosis is none: "unexplained", not a wrong cause.
    Mutant("last_weight_gradient_from_preactivation", "last layer's weight gradient uses the pre-activation below "
           "instead of its input (outside the hypothesis library)", LastWeightGradientFromPreactivation,
           Expected(UNEXPLAINED, where="outside the hypothesis library")),
)


def _at_kind(kind: str) -> Callable[[NetworkSpec], tuple[int, ...]]:
    """The positions of a layer-sequence network's layers of ``kind``."""
    return lambda spec: tuple(i for i, k in enumerate(spec.kinds) if k == kind)


def _sequence(name: str, bug: str, expected: Expected, **adapter) -> Mutant:
    return Mutant(name, bug, None, expected, sequence_mutants.adapter(name, bug, **adapter))


#: The layer-sequence networks' bugs (``sequence_mutants``), one hypothesis each.
SEQUENCE_MUTANTS = (
    _sequence("batchnorm_constant_statistics", "batch-norm backward treats the batch mean and variance as "
              "constants", Expected("norm_constant_statistics", _at_kind("batchnorm"), where="every batchnorm"),
              kind="batchnorm", layer=sequence_mutants.NormConstantStatistics),
    _sequence("layernorm_constant_statistics", "layer-norm backward treats the mean and variance as constants",
              Expected("norm_constant_statistics", _at_kind("layernorm"), where="every layernorm"),
              kind="layernorm", layer=sequence_mutants.NormConstantStatistics),
    _sequence("softmax_diagonal_jacobian", "softmax backward with only the Jacobian's diagonal s·(1 − s)",
              Expected("softmax_diagonal_jacobian", _at_kind("softmax"), where="every softmax"),
              kind="softmax", layer=sequence_mutants.SoftmaxDiagonal),
    _sequence("dropout_backward_missing_scale", "dropout backward without the 1/(1 − p)",
              Expected("dropout_backward_missing_scale", _at_kind("dropout"), where="every dropout"),
              kind="dropout", layer=sequence_mutants.DropoutBackwardWithoutScale),
    _sequence("dropout_backward_missing_mask", "dropout backward without the keep-mask",
              Expected("dropout_backward_missing_mask", _at_kind("dropout"), where="every dropout"),
              kind="dropout", layer=sequence_mutants.DropoutBackwardWithoutMask),
    _sequence("conv_backward_kernel_flipped", "convolution's input gradient through the flipped kernel",
              Expected("conv_backward_kernel_flipped", _at_kind("conv2d"), where="every conv2d"),
              kind="conv2d", layer=sequence_mutants.ConvBackwardKernelFlipped),
    _sequence("conv_backward_padding_ignored", "convolution's input gradient cut as if unpadded",
              Expected("conv_backward_padding_ignored", _at_kind("conv2d"), where="every padded conv2d"),
              kind="conv2d", layer=sequence_mutants.ConvBackwardPaddingIgnored),
    _sequence("maxpool_gradient_to_every_element", "max-pool backward sends the gradient to every window element",
              Expected("maxpool_gradient_to_every_element", _at_kind("maxpool2d"), where="every maxpool2d"),
              kind="maxpool2d", layer=sequence_mutants.MaxPoolEveryElement),
    _sequence("l2_gradient_without_lambda", "the L2 penalty's gradient is W, λ left out",
              Expected("l2_gradient", lambda s: (), variant="without_lambda", where="the penalty"),
              penalty_factor=1 / L2),
    _sequence("l2_gradient_keeps_half", "the L2 penalty's gradient keeps the ½: λ·W/2",
              Expected("l2_gradient", lambda s: (), variant="half", where="the penalty"), penalty_factor=0.5),
)
MUTANTS = tuple(replace(m, shows_in=SHOWS_IN[m.name]) for m in MUTANTS + SEQUENCE_MUTANTS)


def named(names: list[str] | None) -> tuple[Mutant, ...]:
    """The mutants named (all when none is), in the library's order."""
    if not names:
        return MUTANTS
    known = {m.name: m for m in MUTANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"no mutant named {unknown[0]!r}; known: {', '.join(known)}")
    return tuple(known[n] for n in names)
