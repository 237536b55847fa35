"""The bug hypotheses of layer-sequence networks: the mistakes people make writing these
layers' backward passes by hand, each a what-if network for ``oracles.sequence``.

Layer by layer (``LAYER_BUGS``), the inner layers of residual blocks too: batch or layer
norm whose backward treats the mean and variance as constants; softmax backward with only
the Jacobian's diagonal; dropout's backward without the 1/(1 − p) or without the mask (or no
scale at all, forward too); the convolution's input gradient through the flipped kernel or
cut as if unpadded (or a true convolution, forward too); max-pool sending each window's
gradient to every element; an activation's derivative left out; no gradient through time,
the LSTM's forget gate or the GRU's update-gate sign; embedding rows overwritten for
repeated tokens. Around them: the loss (or upstream) gradient, or the gradient a layer
passes down, off by a named factor; the L2 penalty's gradient missing, without λ, or
carrying the ½. Reshapings of single tensors (``diagnose.reshaping``) apply as for an MLP.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

import numpy as np

from conformance.cases.layers import ACTIVATION_KINDS
from conformance.cases.spec import CaseData
from conformance.cases.torch_layers import apply_layer, layer_params
from conformance.diagnosis import labels
from conformance.diagnosis.graph_hypotheses import GRAPH_LAYER_BUGS, applies
from conformance.diagnosis.hypotheses import Factor
from conformance.diagnosis.layer_hypotheses import (bias_penalty_changes, fitted_divisors, fitted_slopes,
                                                     variant_changes)
from conformance.diagnosis.sequence_change import SequenceWhatIf, words as _words
from conformance.oracles import sequence, sequence_whatif as bugs


_NO_BPTT = ("no_gradient_through_time", False, bugs.no_gradient_through_time,
            "no gradient through time: each step's hidden-state gradient is its own output's only, what the "
            "later steps send back is dropped (the last step's gradients are right, the earlier steps' are not)")
#: Per layer kind: (finding kind, changes the forward too, override, what it says after "layer i (kind): ").
LAYER_BUGS: dict[str, list[tuple[str, bool, Callable, str]]] = {
    "batchnorm": [("norm_constant_statistics", False, bugs.norm_constant_statistics,
                   "backward treats the batch mean and variance as constants (dx = dx̂/σ: the terms through "
                   "the mean and the variance are missing)")],
    "layernorm": [("norm_constant_statistics", False, bugs.norm_constant_statistics,
                   "backward treats the mean and variance as constants (dx = dx̂/σ: the terms through the mean "
                   "and the variance are missing)")],
    "softmax": [("softmax_diagonal_jacobian", False, bugs.softmax_diagonal,
                 "backward uses only the Jacobian's diagonal, s·(1 − s), where (diag(s) − s·sᵀ) is due")],
    "dropout": [("dropout_backward_missing_scale", False, bugs.dropout_backward_without_scale,
                 "backward multiplies by the mask but leaves out the 1/(1 − p) the forward applies"),
                ("dropout_backward_missing_mask", False, bugs.dropout_backward_without_mask,
                 "backward does not apply the keep-mask (every unit gets the gradient ×1/(1 − p))"),
                ("dropout_missing_scale", True, bugs.dropout_without_scale,
                 "dropout without the inverted scale 1/(1 − p), forward and backward")],
    "conv2d": [("conv_backward_kernel_flipped", False, bugs.conv_backward_kernel_flipped,
                "backward passes the gradient to the input through the flipped kernel (the transposed "
                "cross-correlation is due)"),
               ("conv_backward_padding_ignored", False, bugs.conv_backward_padding_ignored,
                "backward ignores the padding: the input's gradient is cut from the padded input's at its "
                "corner instead of its centre"),
               ("conv_kernel_flipped", True, bugs.conv_kernel_flipped,
                "the forward flips the kernel (a true convolution where PyTorch's cross-correlation is due)")],
    "maxpool2d": [("maxpool_gradient_to_every_element", False, bugs.maxpool_every_element,
                   "backward sends each window's gradient to every element of the window instead of its maximum"),
                  ("maxpool_overwrites", False, bugs.maxpool_overwrites,
                   "backward writes each window's gradient to its maximum where it must add: an element that is "
                   "the maximum of several overlapping windows keeps only the last one's")],
    "gelu": [("gelu_convention_swapped", True, bugs.gelu_swapped,
              "the forward computes GELU's tanh approximation ½z(1 + tanh(√(2/π)(z + 0.044715z³))) where the "
              "exact z·Φ(z) is due (they differ by up to about 1e-3): declare the gelu_tanh kind, not gelu, "
              "if that is what the code computes")],
    "gelu_tanh": [("gelu_convention_swapped", True, bugs.gelu_swapped,
                   "the forward computes the exact GELU z·Φ(z) where the tanh approximation is due (they differ by "
                   "up to about 1e-3): declare the gelu kind, not gelu_tanh, if that is what the code computes")],
    **GRAPH_LAYER_BUGS,
    # ---- recurrent kinds ----
    "rnn": [_NO_BPTT],
    "lstm": [_NO_BPTT,
             ("no_gradient_through_hidden_state", False, bugs.no_gradient_through_hidden_state,
              "backward drops the hidden state's gradient between steps (dh_{t−1} not added to the step "
              "before's own output gradient) while the cell state's is carried"),
             ("no_gradient_through_cell_state", False, bugs.no_gradient_through_cell_state,
              "backward drops the cell state's gradient between steps (dc_{t−1} not passed to the step "
              "before) while the hidden state's is carried"),
             ("lstm_forget_gate_missing", False, bugs.forget_gate_missing_from_cell_gradient,
              "backward passes the cell state's gradient to the step before without the forget gate's "
              "factor (dc_{t−1} = dc_t where dc_t·f_t is due)")],
    "gru": [_NO_BPTT, ("gru_update_gate_sign", False, bugs.update_gate_sign_flipped,
                       "backward flips the update gate's sign: dz = dh·(n − h_{t−1}) where dh·(h_{t−1} − n) is due "
                       "for h_t = (1 − z)·n + z·h_{t−1}")],
    "embedding": [("embedding_rows_overwritten", False, bugs.embedding_overwrites,
                   "backward writes each position's gradient into its token's row where it must add: a token "
                   "repeated in the batch keeps only its last position's gradient")],
}


def pool_divisor_changes(data: CaseData) -> list[SequenceWhatIf]:
    """Average pools whose backward divides by k (the kernel's side) or by nothing, where k² is due."""
    spec, found = data.case.spec, []
    for i, layer in enumerate(spec.layers):
        if layer.kind != "avgpool2d":
            continue
        k = layer.kernel
        for divisor, words in ((k, f"k = {k}"), (1, "nothing")):
            found.append(SequenceWhatIf("avgpool_divisor", (i,), f"{_words(spec, i)}: backward divides each "
                                        f"window's gradient by {words} where k² = {k * k} is due (×{k * k // divisor})",
                                        lambda i=i, d=divisor: {"overrides": {i: bugs.avgpool_divisor(d)}},
                                        factor=Factor(k * k / divisor, f"k²/{divisor}"), reach=i,
                                        variant="divisor_k" if divisor == k else "divisor_1"))
    return found


def _bugs_of(layer, forward_wrong: bool) -> Iterator[tuple[str, Callable, str]]:
    """A layer's bugs of ``LAYER_BUGS`` that change the forward when it is wrong (else those that
    change only the backward), then, for an activation, its derivative left out."""
    for kind, forward, override, text in LAYER_BUGS.get(layer.kind, ()):
        if forward != forward_wrong or (kind == "conv_backward_padding_ignored" and not layer.padding) \
                or not applies(kind, layer):
            continue
        yield kind, override, text
    if not forward_wrong and layer.kind in ACTIVATION_KINDS and layer.kind != "identity":
        yield ("missing_derivative", bugs.derivative_missing,
               f"the {layer.kind} derivative is missing in backward (the gradient passes through unchanged)")


def _inside(j: int, override: Callable) -> Callable:
    """A residual block whose inner layer ``j`` is ``override``."""
    def block(layer, a, p):
        out = a
        for k, inner in enumerate(layer.inner):
            q = layer_params(p, f"inner.{k}")
            out = override(inner, out, q) if k == j else apply_layer(inner, out, q)
        return out + a
    return block


def layer_changes(data: CaseData, forward_wrong: bool) -> list[SequenceWhatIf]:
    """Every layer's bugs (``_bugs_of``), the inner layers of residual blocks included
    ("layer 1 (residual) → inner layer 2 (dense): …")."""
    spec, found = data.case.spec, []
    for i, layer in enumerate(spec.layers):
        for kind, override, text in _bugs_of(layer, forward_wrong):
            found.append(SequenceWhatIf(kind, (i,), f"{_words(spec, i)}: {text}",
                                        lambda i=i, o=override: {"overrides": {i: o}},
                                        reach=None if forward_wrong else i))
        for j, inner in enumerate(getattr(layer, "inner", ())):
            for kind, override, text in _bugs_of(inner, forward_wrong):
                found.append(SequenceWhatIf(kind, (i,), f"{_words(spec, i)} → inner layer {j} ({inner.kind}): {text}",
                                            lambda i=i, j=j, o=override: {"overrides": {i: _inside(j, o)}},
                                            reach=None if forward_wrong else i))
    return found


def every_instance_changes(data: CaseData) -> list[SequenceWhatIf]:
    """A kind's backward written wrong once is wrong wherever the kind is used: each bug of
    ``LAYER_BUGS`` at every layer of its kind at once, for kinds used more than once."""
    spec, found = data.case.spec, []
    for kind in dict.fromkeys(spec.kinds):
        at = tuple(i for i, k in enumerate(spec.kinds) if k == kind)
        if len(at) < 2:
            continue
        for bug, override, text in _bugs_of(spec.layers[at[0]], False):
            if bug == "missing_derivative" or any(not applies(bug, spec.layers[i]) for i in at):
                continue
            where = f"layers {', '.join(map(str, at))} ({kind}), each"
            found.append(SequenceWhatIf(bug, at, f"{where}: {text}",
                                        lambda at=at, o=override: {"overrides": dict.fromkeys(at, o)},
                                        reach=max(at)))
    return found


def _scaled_below(i: int, factor: Factor):
    def override(layer, a, p):
        return sequence.scale_gradient(apply_layer(layer, a, p), factor.value)
    return lambda: {"overrides": {i: override}}


def scaled_changes(data: CaseData, factors: list[Factor]) -> list[SequenceWhatIf]:
    """The loss (or upstream) gradient ×factor, then the gradient a layer passes down ×factor."""
    spec, last = data.case.spec, data.case.spec.depth - 1
    what = "the loss gradient" if spec.loss else "every gradient (as if the upstream gradient were scaled)"
    found = [SequenceWhatIf("scaled_gradient", (last,), f"{what} is {factor}",
                            lambda f=factor: {"loss_factor": f.value}, factor=factor, reach=last)
             for factor in factors]
    found += [SequenceWhatIf("scaled_gradient", (i,), f"the gradient {_words(spec, i + 1)} passes down is {factor}, "
                             f"so every gradient from layer {i} down is too", _scaled_below(i, factor),
                             factor=factor, reach=i)
              for i in range(last - 1, -1, -1) for factor in factors if factor.named]
    return found


def penalty_changes(data: CaseData) -> list[SequenceWhatIf]:
    """The L2 penalty's gradient (λ·W) missing, without λ (W), with the ½ kept (λ·W/2), doubled."""
    spec = data.case.spec
    if not spec.l2:
        return []
    changes = [("missing", 0.0, "the L2 penalty's gradient is missing (the penalty is in the loss, not in the "
                                "weights' gradients)"),
               ("without_lambda", 1 / spec.l2, f"the L2 penalty's gradient misses λ (W where λ·W = {spec.l2:g}·W "
                                               f"is due)"),
               ("half", 0.5, "the L2 penalty's gradient keeps the ½ of λ/2·‖W‖² (λ·W/2 where λ·W is due)"),
               ("doubled", 2.0, "the L2 penalty's gradient is 2λ·W where λ·W is due")]
    return [SequenceWhatIf("l2_gradient", (), text, lambda f=factor: {"penalty_factor": f}, variant=variant)
            for variant, factor, text in changes]


def what_ifs(data: CaseData, forward_wrong: bool, factors: list[Factor],
             seen: Mapping[str, np.ndarray] | None = None) -> Iterator[SequenceWhatIf]:
    """The hypotheses worth evaluating for a layer-sequence case, likeliest first (``seen``, what
    the implementation returned, fits the constants of ``layer_hypotheses``' fitted bugs)."""
    if forward_wrong:
        yield from layer_changes(data, True)
        yield from variant_changes(data, True)
        return
    named = [f for f in factors if f.named]
    yield from pool_divisor_changes(data)  # before the plain scalings it ties with: it names the layer
    yield from scaled_changes(data, named)
    yield from labels.shifted(data)
    yield from layer_changes(data, False)
    yield from penalty_changes(data)
    # after the library's own: where one of those reproduces a case exactly, it keeps it
    yield from variant_changes(data, False)
    yield from bias_penalty_changes(data)
    yield from fitted_divisors(data, factors)
    yield from fitted_slopes(data, seen or {})
    yield from scaled_changes(data, [f for f in factors if not f.named])
    yield from every_instance_changes(data)
