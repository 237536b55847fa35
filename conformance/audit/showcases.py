"""Where each mutant's bug shows: one case of the grid's kind per mutant of the audit.

A mutant carries its case (``Mutant.shows_in``), so the smoke audit (``conformance audit
--smoke``) can run every mutant on the one case that proves its hypothesis in seconds,
and the diagnosis tests read the same cases instead of keeping a table of their own.
"""

from __future__ import annotations

from conformance.cases.layer_grid import sequence_specs
from conformance.cases.spec import Case, NetworkSpec


def mlp_case(activation: str, loss: str | None = None, dtype: str = "float64", output: str = "identity",
             depth: int = 3, bias: bool = True, batch: int = 4) -> Case:
    """An MLP case 3-4-…-4-2 of ``depth`` layers (a first, middle and last layer at depth 3)."""
    sizes = [3] + [4] * (depth - 1) + [2]
    return Case(NetworkSpec.mlp(sizes, activation, output, bias, loss), batch, dtype)


def layer_case(name: str, batch: int = 3, dtype: str = "float64", loss: str | None = None) -> Case:
    """A layer-sequence case of the grid, by its network's name and loss."""
    (spec,) = [s for s in sequence_specs() if s.name == name and s.loss == loss]
    return Case(spec, batch, dtype)


#: For each mutant by name, a case where its bug shows (and its diagnosis can be judged).
SHOWS_IN = {
    "loss_gradient_misses_mean": mlp_case("tanh", "half_mse"),
    "loss_gradient_misses_outputs": mlp_case("sigmoid", "mse", "float32"),
    "loss_gradient_sign": mlp_case("relu", "sse"),
    "half_loss_gradient_doubled": mlp_case("tanh", "half_sse"),
    "cross_entropy_misses_batch_mean": mlp_case("tanh", "softmax_cross_entropy"),
    "last_bias_not_summed": mlp_case("tanh"),
    "first_bias_averaged": mlp_case("sigmoid", dtype="float32"),
    "first_weight_gradient_transposed": mlp_case("relu"),
    "last_weight_gradient_averaged": mlp_case("tanh", dtype="float32"),
    "middle_transposed_weight_in_backward": mlp_case("tanh"),
    "derivative_at_output": mlp_case("sigmoid", output="sigmoid"),
    "first_derivative_formula_at_preactivation": mlp_case("tanh", dtype="float32"),
    "last_derivative_missing": mlp_case("tanh", output="tanh"),
    "sigmoid_uses_tanh_derivative": mlp_case("sigmoid"),
    "first_forward_uses_derivative": mlp_case("relu"),
    "first_forward_without_bias": mlp_case("tanh", "half_sse"),
    "last_passes_down_negated": mlp_case("relu", dtype="float32"),
    "last_updated_before_passing_down": mlp_case("tanh", "mse"),
    "derivative_one_layer_off": mlp_case("sigmoid", depth=4),
    "tanh_derivative_not_squared": mlp_case("tanh", output="tanh"),
    "all_updated_before_passing_down": mlp_case("sigmoid", "half_mse", depth=4),
    "input_gradient_skips_first_derivative": mlp_case("relu", dtype="float32"),
    "loss_plus_constant": mlp_case("tanh", "mse"),
    "cross_entropy_is_sum_of_squared_gradients": mlp_case("sigmoid", "softmax_cross_entropy"),
    "last_weight_gradient_from_preactivation": mlp_case("tanh"),
    "accumulates_gradients": mlp_case("tanh"),
    "stale_input_cache": mlp_case("sigmoid", "mse"),
    "batchnorm_constant_statistics": layer_case("dense.nobias-batchnorm-relu-dense"),
    "layernorm_constant_statistics": layer_case("layernorm", dtype="float32"),
    "softmax_diagonal_jacobian": layer_case("dense-leaky_relu-dense-softmax"),
    "dropout_backward_missing_scale": layer_case("dropout"),
    "gelu_convention_swapped": layer_case("dense-layernorm-gelu-dense", batch=2),
    "dropout_backward_missing_mask": layer_case("dense-relu-dropout-dense", dtype="float32"),
    "conv_backward_kernel_flipped": layer_case("conv2d.s2"),
    "conv_backward_padding_ignored": layer_case("conv2d.p1-relu-maxpool2d-flatten-dense", batch=2),
    "maxpool_gradient_to_every_element": layer_case("maxpool2d", dtype="float32"),
    "maxpool_overwrites": layer_case("maxpool2d.k3.s2"),
    "avgpool_divides_by_kernel": layer_case("conv2d.p1.nobias-batchnorm2d-relu-avgpool2d.k3.s2-flatten-dense"),
    "attention_softmax_wrong_axis": layer_case("attention", batch=2),
    "attention_scale_missing_in_backward": layer_case("attention", batch=2, dtype="float32"),
    "attention_mask_leaks_gradient": layer_case("attention.causal", batch=2),
    "residual_branch_not_added": layer_case("residual_dense_tanh", batch=2, dtype="float32"),
    "multihead_heads_joined_wrong": layer_case("mha.h2", batch=2),
    "multihead_scale_missing_in_backward": layer_case("mha.h2.causal", batch=2, dtype="float32"),
    "multihead_scale_of_model_in_backward": layer_case("mha.h2", batch=2),
    "residual_skip_not_added": layer_case("dense-residual_dense_relu_dense-dense", batch=2),
    "embedding_rows_overwritten": layer_case("embedding-dense", dtype="float32"),
    "l2_gradient_without_lambda": layer_case("dense-tanh-dense-l2.0.1", loss="mse"),
    "l2_gradient_keeps_half": layer_case("conv2d.p1-relu-maxpool2d-flatten-dense-l2.0.1", batch=2,
                                         loss="softmax_cross_entropy"),
    # ---- recurrent kinds ----
    "no_gradient_through_time": layer_case("rnn.h0"),
    "lstm_hidden_gradient_not_carried": layer_case("lstm.h0"),
    "lstm_cell_gradient_not_carried": layer_case("lstm", dtype="float32"),
    "lstm_forget_gate_missing": layer_case("lstm.h0-flatten-dense", loss="softmax_cross_entropy"),
    "gru_update_gate_sign": layer_case("gru", dtype="float32"),
    "leaky_slope_wrong": layer_case("dense-leaky_relu-dense-softmax", dtype="float32"),
    "elu_derivative_without_alpha": layer_case("dense-elu-dense-log_softmax"),
    "softplus_derivative_at_output": layer_case("dense-softplus-dense-sigmoid"),
    "softplus_sigmoid_derivative": layer_case("dense-softplus-dense-sigmoid", dtype="float32"),
    "identity_derivative_is_input": layer_case("identity"),
    "layernorm_mean_term_missing": layer_case("dense-layernorm-tanh-dense"),
    "batchnorm_unbiased_variance": layer_case("dense.nobias-batchnorm-relu-dense", dtype="float32"),
    "avgpool_divides_by_kernel_times_stride": layer_case(
        "conv2d.p1.nobias-batchnorm2d-relu-avgpool2d.k3.s2-flatten-dense", batch=2),
    "l2_on_biases": layer_case("dense-tanh-dense-l2.0.1", loss="mse"),
    "softmax_over_batch": layer_case("dense-leaky_relu-dense-softmax", dtype="float32"),
    "identity_output_derivative_is_input": mlp_case("tanh"),
    "gradients_clipped_in_backward": mlp_case("sigmoid", "sse"),
    "first_bias_summed_over_units": mlp_case("tanh"),
    "middle_weight_gradient_from_output": mlp_case("sigmoid", "mse"),
    "avgpool_backward_counts_padding": layer_case("conv2d.p1-relu-avgpool2d.k3.s2.p1-flatten-dense", batch=2),
    "derivative_of_next_layer": mlp_case("tanh", output="sigmoid"),
    "derivative_of_next_layer_from_output": mlp_case("tanh", output="sigmoid", dtype="float32"),
    "labels_shifted_by_one": layer_case("dense-softplus-dense-l2.0.1", loss="softmax_cross_entropy"),
    "maxpool_padding_zeros": layer_case("conv2d.p1-tanh-maxpool2d.k3.s2.p1-flatten-dense", batch=2,
                                        loss="softmax_cross_entropy"),
}
