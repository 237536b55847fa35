"""Mutants of ``reference_numpy`` for the self-audit: each one the reference with exactly one
bug (``mlp_mutants``, ``sequence_mutants``), and the diagnosis that bug should get
(``audit.expected.Expected``); ``MUTANTS`` is the list the audit runs, each with the case its bug shows in.

They live in the harness, not in ``implementations/``: they are the audit's
instruments, not implementations under test. Kept out of that folder, they are
never picked up by ``conformance check implementations/`` or a folder glob,
and their expected diagnoses (which name the harness's own finding kinds) sit
next to the machinery that measures them.

Longer than 300 lines: the list of every mutant, one short entry each with the diagnosis it should get.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from conformance.audit import graph_mutants, layer_mutants as layers, library_mutants as library, mlp_mutants as mlp
from conformance.audit import recurrent_mutants, sequence_mutants
from conformance.implementations.reference_numpy import ReferenceNumpy
from conformance.audit.expected import UNEXPLAINED, WEIGHTS_CHANGED, Expected
from conformance.audit.showcases import SHOWS_IN
from conformance.cases.layer_grid import L2
from conformance.cases.recurrent import RECURRENT_KINDS
from conformance.diagnosis.next_layer import output_variant
from conformance.cases.spec import Case, NetworkSpec


# ---- expectations ----------------------------------------------------------------------------------

def _last(spec: NetworkSpec) -> tuple[int, ...]:
    return (spec.depth - 1,)


def _smooth_layers(spec: NetworkSpec) -> tuple[int, ...]:
    return tuple(i for i, layer in enumerate(spec.layers) if layer.activation in ("tanh", "sigmoid"))


def _sigmoid_layers(spec: NetworkSpec) -> tuple[int, ...]:
    return tuple(i for i, layer in enumerate(spec.layers) if layer.activation == "sigmoid")


def _tanh_layers(spec: NetworkSpec) -> tuple[int, ...]:
    return tuple(i for i, layer in enumerate(spec.layers) if layer.activation == "tanh")


def _every_layer(spec: NetworkSpec) -> tuple[int, ...]:
    return tuple(range(spec.depth))


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    network: type[mlp.Mutable] | None
    expected: Expected
    #: A layer-sequence mutant's adapter class (``sequence_mutants.adapter``), in place of ``network``.
    built: type[ReferenceNumpy] | None = None
    #: A case where the bug shows (``audit.showcases``): the smoke audit runs the mutant on it.
    shows_in: Case | None = None

    def adapter(self) -> type[ReferenceNumpy]:
        if self.built is not None:
            return self.built
        return type(f"Mutant_{self.name}", (mlp.MutantAdapter,), {
            "name": f"mutant:{self.name}", "description": self.bug, "network": self.network,
            "__module__": __name__})


def _outputs(case: Case) -> int:
    return case.spec.layers[-1].n_out


MUTANTS = (
    Mutant("loss_gradient_misses_mean", "MSE gradients without the mean's 1/(batch·outputs)",
           mlp.LossGradientMissesMean,
           Expected("scaled_gradient", _last, factor=lambda c: c.batch * _outputs(c),
                    where="loss gradient ×batch·outputs")),
    Mutant("loss_gradient_misses_outputs", "MSE gradients divided by the batch only", mlp.LossGradientMissesOutputs,
           Expected("scaled_gradient", _last, factor=_outputs, where="loss gradient ×outputs")),
    Mutant("loss_gradient_sign", "loss gradient target − output", mlp.LossGradientSign,
           Expected("scaled_gradient", _last, factor=lambda c: -1.0, where="loss gradient ×−1")),
    Mutant("half_loss_gradient_doubled", "half losses' gradient keeps the square's 2", mlp.HalfLossGradientDoubled,
           Expected("scaled_gradient", _last, factor=lambda c: 2.0, where="loss gradient ×2")),
    Mutant("cross_entropy_misses_batch_mean", "softmax cross-entropy gradient not divided by the batch",
           mlp.CrossEntropyMissesBatchMean,
           Expected("scaled_gradient", _last, factor=lambda c: float(c.batch), where="loss gradient ×batch")),
    Mutant("last_bias_not_summed", "last layer's bias gradient is delta itself, (batch, n)", mlp.LastBiasNotSummed,
           Expected("not_reduced_over_batch", tensors=lambda s: (f"bias[{s.depth - 1}]",), where="last bias")),
    Mutant("first_bias_averaged", "first layer's bias gradient is the batch mean, not the sum", mlp.FirstBiasAveraged,
           Expected("tensor_factor", tensors=lambda s: ("bias[0]",), factor=lambda c: 1 / c.batch,
                    where="bias[0] ×1/batch")),
    Mutant("first_weight_gradient_transposed", "first layer's weight gradient is inputᵀ·delta, (n_in, n_out)",
           mlp.FirstWeightGradientTransposed,
           Expected("transposed_gradient", tensors=lambda s: ("weight[0]",), where="weight[0]")),
    Mutant("last_weight_gradient_averaged", "last layer's weight gradient divided by the batch",
           mlp.LastWeightGradientAveraged,
           Expected("tensor_factor", tensors=lambda s: (f"weight[{s.depth - 1}]",), factor=lambda c: 1 / c.batch,
                    where="last weight ×1/batch")),
    Mutant("middle_transposed_weight_in_backward", "layer 1 (square, hidden) passes the gradient down through Wᵀ",
           mlp.MiddleTransposedWeightInBackward,
           Expected("transposed_weight_in_backward", lambda s: (1,), where="layer 1")),
    Mutant("derivative_at_output", "tanh/sigmoid derivative evaluated at the output instead of the pre-activation",
           mlp.DerivativeAtOutput, Expected("derivative_at_output", _smooth_layers, where="tanh/sigmoid layers")),
    Mutant("first_derivative_formula_at_preactivation", "first layer: 1 − z² (tanh) / z(1 − z) (sigmoid)",
           mlp.FirstDerivativeFormulaAtPreactivation,
           Expected("derivative_formula_at_preactivation", lambda s: (0,), where="layer 0")),
    Mutant("last_derivative_missing", "last layer's activation derivative left out", mlp.LastDerivativeMissing,
           Expected("missing_derivative", _last, where="last layer")),
    Mutant("sigmoid_uses_tanh_derivative", "sigmoid layers multiply by 1 − tanh(z)²", mlp.SigmoidUsesTanhDerivative,
           Expected("other_derivative", _sigmoid_layers, variant="tanh", where="sigmoid layers")),
    Mutant("first_forward_uses_derivative", "first layer's forward applies the activation's derivative (seed 002)",
           mlp.FirstForwardUsesDerivative, Expected("forward_uses_derivative", lambda s: (0,), where="layer 0")),
    Mutant("first_forward_without_bias", "first layer's forward leaves out the bias", mlp.FirstForwardWithoutBias,
           Expected("forward_without_bias", lambda s: (0,), where="layer 0")),
    Mutant("last_passes_down_negated", "last layer passes −delta·W down", mlp.LastPassesDownNegated,
           Expected("scaled_gradient", lambda s: (s.depth - 2,), factor=lambda c: -1.0,
                    where="from the layer below the last, ×−1")),
    Mutant("last_updated_before_passing_down", "last layer's SGD step (rate 0.5) before it passes the gradient down",
           mlp.LastUpdatedBeforePassingDown, Expected("updated_weights_in_backward", _last, where="last layer",
                                                       or_contract=WEIGHTS_CHANGED)),
    Mutant("derivative_one_layer_off", "hidden layers' derivative at the next layer's pre-activation (seed 003)",
           # Which of those layers show it depends on the data: where two ReLU layers' masks agree, the
           # derivative one layer up is the same, so the kind is what must be named, not the layers.
           mlp.DerivativeOneLayerOff, Expected("derivative_one_layer_off", where="equally wide hidden layers")),
    Mutant("tanh_derivative_not_squared", "tanh layers' derivative written 1 − a instead of 1 − a²",
           mlp.TanhDerivativeNotSquared, Expected("tanh_derivative_not_squared", _tanh_layers, where="tanh layers")),
    Mutant("all_updated_before_passing_down", "every layer's SGD step (rate 0.5) before it passes the gradient down",
           mlp.AllUpdatedBeforePassingDown, Expected("updated_weights_in_backward", _every_layer, where="every layer",
                                                      or_contract=WEIGHTS_CHANGED)),
    Mutant("input_gradient_skips_first_derivative", "the input gradient skips the first layer's activation "
           "derivative (weights right)", mlp.InputGradientSkipsFirstDerivative,
           Expected("input_gradient_skips_derivative", lambda s: (0,), where="layer 0, input only")),
    Mutant("loss_plus_constant", "the loss value reported is the right one + 0.1", mlp.LossPlusConstant,
           Expected(UNEXPLAINED, where="a wrong loss value: no factor explains it")),
    Mutant("cross_entropy_is_sum_of_squared_gradients", "the cross-entropy reported is Σ(dL/dy)²",
           mlp.LossIsSumOfSquaredGradients,
           Expected(UNEXPLAINED, where="a wrong loss value: no factor explains it")),
    Mutant("accumulates_gradients", "weight and bias gradients added to stored ones, never zeroed",
           mlp.AccumulatesGradients, Expected("contract", contract="gradients accumulate between calls",
                                          where="the contract's repeated calls: accumulation")),
    Mutant("stale_input_cache", "the first layer differentiated with the first forward's input ever after",
           mlp.StaleInputCache, Expected("contract", contract="does not follow the latest forward",
                                         where="the contract's repeated calls")),
    # Outside the library, the right diagnosis is none: "unexplained", not a wrong cause.
    Mutant("last_weight_gradient_from_preactivation", "last layer's weight gradient uses the pre-activation below "
           "instead of its input (outside the hypothesis library)", mlp.LastWeightGradientFromPreactivation,
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
    _sequence("gelu_convention_swapped", "GELU's tanh approximation computed where the exact GELU is due",
              Expected("gelu_convention_swapped", _at_kind("gelu"), where="every gelu"),
              kind="gelu", layer=sequence_mutants.GeluConventionSwapped),
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
    _sequence("maxpool_overwrites", "max-pool backward assigns each window's gradient to its maximum (= for +=)",
              Expected("maxpool_overwrites", _at_kind("maxpool2d"), where="overlapping maxpool2d windows"),
              kind="maxpool2d", layer=sequence_mutants.MaxPoolOverwrites),
    _sequence("avgpool_divides_by_kernel", "average-pool backward divides by k where k² is due",
              Expected("avgpool_divisor", _at_kind("avgpool2d"), variant="divisor_k", where="every avgpool2d"),
              kind="avgpool2d", layer=sequence_mutants.AvgPoolDividesByKernel),
    # ---- the graph layers (graph_mutants) ----
    _sequence("attention_softmax_wrong_axis", "attention's softmax backward summed over the queries' axis",
              Expected("attention_softmax_wrong_axis", _at_kind("attention"), where="every attention"),
              kind="attention", layer=graph_mutants.AttentionSoftmaxWrongAxis),
    _sequence("attention_scale_missing_in_backward", "attention's backward without the 1/√d scale",
              Expected("attention_scale_missing_in_backward", _at_kind("attention"), where="every attention"),
              kind="attention", layer=graph_mutants.AttentionScaleMissing),
    _sequence("attention_mask_leaks_gradient", "causal attention's backward through the unmasked softmax",
              Expected("attention_mask_leaks_gradient", _at_kind("attention"), where="every causal attention"),
              kind="attention", layer=graph_mutants.AttentionMaskLeaks),
    _sequence("multihead_heads_joined_wrong", "multi-head attention's backward reshapes to and from the heads "
              "without the transpose", Expected("multihead_heads_joined_wrong", _at_kind("multihead_attention"),
                                                where="every multihead_attention"),
              kind="multihead_attention", layer=graph_mutants.MultiHeadHeadsJoinedWrong),
    _sequence("multihead_scale_missing_in_backward", "multi-head attention's backward without the 1/√d_head",
              Expected("multihead_scale_missing_in_backward", _at_kind("multihead_attention"),
                       where="every multihead_attention"),
              kind="multihead_attention", layer=graph_mutants.MultiHeadScaleMissing),
    _sequence("multihead_scale_of_model_in_backward", "multi-head attention's backward scaled by 1/√E, not "
              "1/√d_head", Expected("multihead_scale_of_model_in_backward", _at_kind("multihead_attention"),
                                     where="every multihead_attention"),
              kind="multihead_attention", layer=graph_mutants.MultiHeadScaleOfModel),
    _sequence("residual_branch_not_added", "a residual block's input gets only the skip path's gradient",
              Expected("residual_branch_not_added", _at_kind("residual"), where="every residual block"),
              kind="residual", layer=graph_mutants.ResidualBranchNotAdded),
    _sequence("residual_skip_not_added", "a residual block's input gets only the inner branch's gradient",
              Expected("residual_skip_not_added", _at_kind("residual"), where="every residual block"),
              kind="residual", layer=graph_mutants.ResidualSkipNotAdded),
    _sequence("embedding_rows_overwritten", "embedding backward assigns each position's gradient to its "
              "token's row (= for +=)", Expected("embedding_rows_overwritten", _at_kind("embedding"),
                                                  where="every embedding"),
              kind="embedding", layer=sequence_mutants.EmbeddingRowsOverwritten),
    _sequence("l2_gradient_without_lambda", "the L2 penalty's gradient is W, λ left out",
              Expected("l2_gradient", lambda s: (), variant="without_lambda", where="the penalty"),
              penalty_factor=1 / L2),
    _sequence("l2_gradient_keeps_half", "the L2 penalty's gradient keeps the ½: λ·W/2",
              Expected("l2_gradient", lambda s: (), variant="half", where="the penalty"), penalty_factor=0.5),
)


# ---- recurrent kinds ----
def _recurrent(spec) -> tuple[int, ...]:
    return tuple(i for i, k in enumerate(spec.kinds) if k in RECURRENT_KINDS)


RECURRENT_MUTANTS = (
    _sequence("no_gradient_through_time", "recurrent backward without gradient through time (each step's "
              "hidden-state gradient its own output's only)",
              Expected("no_gradient_through_time", _recurrent, where="every recurrent layer"),
              kind="recurrent", layer=recurrent_mutants.NoGradientThroughTime),
    _sequence("lstm_hidden_gradient_not_carried", "LSTM backward: the hidden state's gradient not carried to the "
              "step before (the cell state's is)", Expected("no_gradient_through_hidden_state", _at_kind("lstm"),
                                                           where="every lstm"),
              kind="lstm", layer=recurrent_mutants.HiddenGradientNotCarried),
    _sequence("lstm_cell_gradient_not_carried", "LSTM backward: the cell state's gradient not carried to the step "
              "before (the hidden state's is)", Expected("no_gradient_through_cell_state", _at_kind("lstm"),
                                                        where="every lstm"),
              kind="lstm", layer=recurrent_mutants.CellGradientNotCarried),
    _sequence("lstm_forget_gate_missing", "LSTM backward: the cell state's gradient passed back without ×f",
              Expected("lstm_forget_gate_missing", _at_kind("lstm"), where="every lstm"),
              kind="lstm", layer=recurrent_mutants.ForgetGateMissingFromCellGradient),
    _sequence("gru_update_gate_sign", "GRU backward: the update gate's gradient with its sign flipped",
              Expected("gru_update_gate_sign", _at_kind("gru"), where="every gru"),
              kind="gru", layer=recurrent_mutants.UpdateGateSignFlipped),
)

#: More layer bugs (``layer_mutants``), named by ``diagnosis.layer_hypotheses``.
LAYER_MUTANTS = (
    _sequence("leaky_slope_wrong", f"leaky ReLU's backward with slope {layers.WRONG_LEAKY_SLOPE:g} where 0.01 is due",
              Expected("leaky_slope", _at_kind("leaky_relu"), factor=lambda c: layers.WRONG_LEAKY_SLOPE,
                       where="every leaky_relu, slope fitted"), kind="leaky_relu", layer=layers.LeakySlopeWrong),
    _sequence("elu_derivative_without_alpha", "ELU's derivative for z < 0 is the output a, the + α left out",
              Expected("elu_derivative_without_alpha", _at_kind("elu"), where="every elu"),
              kind="elu", layer=layers.EluDerivativeWithoutAlpha),
    _sequence("softplus_derivative_at_output", "softplus's derivative σ(a) of the output, not σ(z)",
              Expected("derivative_at_output", _at_kind("softplus"), variant="softplus", where="every softplus"),
              kind="softplus", layer=layers.SoftplusDerivativeAtOutput),
    _sequence("softplus_sigmoid_derivative", "softplus's derivative written σ(z)·(1 − σ(z))",
              Expected("softplus_uses_sigmoid_derivative", _at_kind("softplus"), where="every softplus"),
              kind="softplus", layer=layers.SoftplusSigmoidDerivative),
    _sequence("identity_derivative_is_input", "the identity's derivative returns z instead of 1",
              Expected("identity_derivative_is_input", _at_kind("identity"), where="every identity"),
              kind="identity", layer=layers.IdentityDerivativeIsInput),
    _sequence("layernorm_mean_term_missing", "layer-norm backward without the −mean(dx̂) term",
              Expected("norm_mean_term_missing", _at_kind("layernorm"), where="every layernorm"),
              kind="layernorm", layer=layers.NormMeanTermMissing),
    _sequence("batchnorm_unbiased_variance", "batch norm normalises by the unbiased variance (ddof=1)",
              Expected("norm_unbiased_variance", _at_kind("batchnorm"), variant="textbook_backward",
                       where="every batchnorm"), kind="batchnorm", layer=layers.NormUnbiasedVariance),
    _sequence("avgpool_divides_by_kernel_times_stride", "average-pool backward divides by kernel·stride",
              # at stride 1, k·stride is k: the divisor_k hypothesis names it, the factor is the same
              Expected("avgpool_divisor", _at_kind("avgpool2d"), factor=lambda c: _pool_factor(c.spec),
                       where="every avgpool2d, divisor k·stride fitted"),
              kind="avgpool2d", layer=layers.AvgPoolDividesByKernelTimesStride),
    Mutant("l2_on_biases", "the L2 penalty covers the biases too", None,
           Expected("l2_on_biases", lambda s: (), variant="loss_and_gradient", where="the penalty"),
           layers.biases_penalised("l2_on_biases", "the L2 penalty covers the biases too")),
    _sequence("softmax_over_batch", "softmax normalised over the batch (axis 0), forward and backward",
              Expected("softmax_over_batch", _at_kind("softmax"), where="every softmax"),
              kind="softmax", layer=layers.SoftmaxOverBatch),
    Mutant("identity_output_derivative_is_input", "the identity's derivative returns z, not 1 (MLP)",
           layers.MlpIdentityDerivativeIsInput,
           Expected("identity_derivative_is_input", lambda s: tuple(
               i for i, layer in enumerate(s.layers) if layer.activation == "identity"), where="identity layers")),
    Mutant("gradients_clipped_in_backward", f"every weight and bias gradient clipped to "
           f"±{layers.GradientsClippedInBackward.CLIP:g}", layers.GradientsClippedInBackward,
           Expected("clipped", factor=lambda c: layers.GradientsClippedInBackward.CLIP, where="clip fitted")),
    Mutant("first_bias_summed_over_units", "the first layer's bias gradient summed over axis 1 (the units)",
           layers.FirstBiasSummedOverUnits,
           Expected("bias_summed_over_wrong_axis", tensors=lambda s: ("bias[0]",), where="bias[0]")),
    Mutant("middle_weight_gradient_from_output", "layer 1's weight gradient from its own output, not its input",
           layers.MiddleWeightGradientFromOutput,
           Expected("weight_gradient_from_output", tensors=lambda s: ("weight[1]",), where="weight[1]")),
    _sequence("maxpool_padding_zeros", "a padded max-pool pads with zeros where −∞ is due",
              Expected("maxpool_padding_zeros", _at_kind("maxpool2d"), where="every padded maxpool2d"),
              kind="maxpool2d", layer=layers.MaxPoolPaddingZeros),
    _sequence("avgpool_backward_counts_padding", "a padded average pool's forward divides by the elements inside "
              "the input, its backward by k²", Expected("avgpool_backward_other_padding_count", lambda s: tuple(
                  i for i, layer in enumerate(s.layers) if layer.kind == "avgpool2d" and layer.padding),
                  where="every padded avgpool2d"),
              kind="avgpool2d", layer=layers.AvgPoolBackwardCountsPadding),
)


def _next_differs(spec: NetworkSpec) -> tuple[int, ...]:
    """The layers below the last whose next layer has another activation."""
    return tuple(i for i in range(spec.depth - 1) if spec.layers[i].activation != spec.layers[i + 1].activation)


#: Bugs of third-party libraries (``library_mutants``), written in their style.
LIBRARY_MUTANTS = (
    Mutant("derivative_of_next_layer", "each layer's derivative taken from the next layer's activation object",
           library.NextLayerActivation, Expected("derivative_of_next_layer", _next_differs,
                                                 where="layers whose next activation differs")),
    Mutant("derivative_of_next_layer_from_output", "each layer's derivative the next activation's formula in "
           "terms of the output, applied to the layer's own output", library.NextLayerActivationFromOutput,
           Expected("derivative_of_next_layer", _next_differs, variant=output_variant,
                    where="layers whose next activation differs, output form")),
    Mutant("labels_shifted_by_one", "cross-entropy labels one-hot encoded as labels − 1 (read as 1-based)", None,
           Expected("labels_shifted", factor=lambda c: c.spec.output_shape(1)[-1] - 1, where="shift fitted: C − 1"),
           library.one_hot_shifted("labels_shifted_by_one", "cross-entropy labels one-hot encoded as labels − 1")),
)


def _pool_factor(spec) -> float:
    """k²/(k·stride) for the network's (first) average pool."""
    (pool, *_) = [layer for layer in spec.layers if layer.kind == "avgpool2d"]
    return pool.kernel / pool.step


MUTANTS = tuple(replace(m, shows_in=SHOWS_IN[m.name])
                for m in MUTANTS + SEQUENCE_MUTANTS + RECURRENT_MUTANTS + LAYER_MUTANTS + LIBRARY_MUTANTS)


def named(names: list[str] | None) -> tuple[Mutant, ...]:
    """The mutants named (all when none is), in the library's order."""
    if not names:
        return MUTANTS
    known = {m.name: m for m in MUTANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"no mutant named {unknown[0]!r}; known: {', '.join(known)}")
    return tuple(known[n] for n in names)
