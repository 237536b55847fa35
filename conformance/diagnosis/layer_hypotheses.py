"""More layer bugs of layer-sequence networks, tried after ``sequence_hypotheses``' own (an
existing, exact hypothesis keeps the cases it names): activation derivatives written the
classic wrong ways (at the output, a formula of the output applied to the pre-activation,
ELU's without its α, softplus's as the sigmoid's derivative, the identity's as z), a norm's
backward without the mean's term or its statistics with the unbiased variance, softmax over
the batch, a padded max-pool padding with zeros, a padded average pool whose backward counts
the padding otherwise than its forward (whether it counts it is a convention), the L2 penalty
on the biases, and two bugs with a constant fitted to the observation: a leaky ReLU's slope
and an average pool's divisor, each named with its value.
"""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from conformance.cases.layers import ELU_ALPHA, LEAKY_SLOPE
from conformance.cases.spec import CaseData
from conformance.diagnosis.hypotheses import Factor
from conformance.diagnosis.sequence_change import SequenceWhatIf, words as _words
from conformance.oracles import layer_whatif as bugs
from conformance.oracles.sequence_whatif import avgpool_divisor


def _sigmoid_derivative(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s)


def _negative(z, value):
    return torch.where(z > 0, torch.ones_like(z), value)


#: Per layer kind: (finding kind, variant, derivative(z, a), what it says after "layer i (kind): ").
DERIVATIVES = {
    "tanh": [("derivative_at_output", "tanh", lambda z, a: 1 - torch.tanh(a) ** 2,
              "the tanh derivative is evaluated at the output instead of the pre-activation (1 − tanh(a)²)"),
             ("derivative_formula_at_preactivation", "tanh", lambda z, a: 1 - z * z,
              "the tanh derivative's formula in terms of the output is applied to the pre-activation "
              "(1 − z² where 1 − a² is due)")],
    "sigmoid": [("derivative_at_output", "sigmoid", lambda z, a: _sigmoid_derivative(a),
                 "the sigmoid derivative is evaluated at the output instead of the pre-activation (σ(a)·(1 − σ(a)))"),
                ("derivative_formula_at_preactivation", "sigmoid", lambda z, a: z * (1 - z),
                 "the sigmoid derivative's formula in terms of the output is applied to the pre-activation "
                 "(z·(1 − z) where a·(1 − a) is due)")],
    "elu": [("derivative_at_output", "elu", lambda z, a: _negative(z, ELU_ALPHA * torch.exp(a)),
             f"the ELU derivative is evaluated at the output instead of the pre-activation (α·e^a where α·e^z, "
             f"α = {ELU_ALPHA:g}, is due for z < 0)"),
            ("elu_derivative_without_alpha", "", lambda z, a: _negative(z, a),
             f"the ELU derivative for z < 0 is written a (the output) where a + α = α·e^z (α = {ELU_ALPHA:g}) "
             f"is due")],
    "softplus": [("derivative_at_output", "softplus", lambda z, a: torch.sigmoid(a),
                  "the softplus derivative is evaluated at the output: σ(a) where σ(z) is due"),
                 ("softplus_uses_sigmoid_derivative", "", lambda z, a: _sigmoid_derivative(z),
                  "the softplus derivative is written σ(z)·(1 − σ(z)), the sigmoid's derivative, where σ(z) is due"),
                 ("derivative_formula_at_preactivation", "softplus", lambda z, a: 1 - torch.exp(-z),
                  "the softplus derivative's formula in terms of the output is applied to the pre-activation "
                  "(1 − e^(−z) where 1 − e^(−a) = σ(z) is due)")],
    "identity": [("identity_derivative_is_input", "", lambda z, a: z,
                  "backward multiplies by z where the identity's derivative, 1, is due")],
}

#: Per norm kind: (finding kind, variant, changes the forward, override, words).
NORMS = [("norm_mean_term_missing", "", False, bugs.norm_mean_term_missing,
          "backward leaves out the term through the mean: dx = (dx̂ − x̂·mean(dx̂·x̂))/σ where "
          "(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))/σ is due"),
         ("norm_unbiased_variance", "textbook_backward", True, bugs.norm_unbiased_variance,
          "normalises by the unbiased variance (Σ/(m − 1)) where the biased one (Σ/m) is due: x̂ is "
          "×√((m − 1)/m) = {shrink:.4g} of PyTorch's, m = {m}"),
         ("norm_unbiased_variance", "exact_backward", True, bugs.norm_unbiased_variance_exact,
          "normalises by the unbiased variance (Σ/(m − 1)) where the biased one (Σ/m) is due: x̂ is "
          "×√((m − 1)/m) = {shrink:.4g} of PyTorch's, m = {m}")]


def _values_per_statistic(data: CaseData, i: int) -> int:
    """How many values each of layer ``i``'s statistics runs over (m)."""
    spec, shape = data.case.spec, data.case.spec.shapes[i]
    if spec.layers[i].kind == "batchnorm":
        return data.case.batch * int(np.prod(shape[1:]))
    return shape[-1]


#: Softmax and log-softmax normalised over the batch (axis 0) instead of each sample's last axis.
OVER_BATCH = {"softmax": lambda layer, a, p: torch.softmax(a, dim=0),
              "log_softmax": lambda layer, a, p: torch.log_softmax(a, dim=0)}


def _max_over_zero_padding(layer, a, p):
    return F.max_pool2d(F.pad(a, (layer.padding,) * 4), layer.kernel, layer.step)


def _pool_counts(data: CaseData, i: int) -> str:
    """What a padded average pool's backward divides by, where its forward does otherwise."""
    layer, inside = data.case.spec.layers[i], "the window's elements inside the input (count_include_pad=False)"
    squared = f"k² = {layer.kernel ** 2}, padding included"
    counted = (squared, inside) if data.case.conventions.avgpool_count_include_pad else (inside, squared)
    return f"backward divides each window's gradient by {counted[1]}, where its forward divides by {counted[0]}"


def variant_changes(data: CaseData, forward_wrong: bool) -> list[SequenceWhatIf]:
    """Each layer's derivative variants (backward only), softmax over the batch (forward), and
    norm variants (of either kind)."""
    spec, found = data.case.spec, []
    for i, layer in enumerate(spec.layers):
        if forward_wrong and layer.kind == "maxpool2d" and layer.padding:
            found.append(SequenceWhatIf("maxpool_padding_zeros", (i,), f"{_words(spec, i)}: the padding is taken as "
                                        f"zeros in the max where −∞ is due (a window of negative values at the "
                                        f"border gets 0)", lambda i=i: {"overrides": {i: _max_over_zero_padding}}))
        if not forward_wrong and layer.kind == "avgpool2d" and layer.padding:
            found.append(SequenceWhatIf("avgpool_backward_other_padding_count", (i,),
                                        f"{_words(spec, i)}: {_pool_counts(data, i)}",
                                        lambda i=i: {"overrides": {i: bugs.avgpool_backward_other_count}}, reach=i))
        if forward_wrong and layer.kind in OVER_BATCH and data.case.batch > 1:
            found.append(SequenceWhatIf("softmax_over_batch", (i,), f"{_words(spec, i)}: the {layer.kind} is "
                                        f"normalised over the batch (axis 0) where each sample's own is due",
                                        lambda i=i, o=OVER_BATCH[layer.kind]: {"overrides": {i: o}}))
        for kind, variant, derivative, text in ([] if forward_wrong else DERIVATIVES.get(layer.kind, [])):
            found.append(SequenceWhatIf(kind, (i,), f"{_words(spec, i)}: {text}",
                                        lambda i=i, d=derivative: {"overrides": {i: bugs.derivative_as(d)}},
                                        variant=variant, reach=i))
        if layer.kind not in ("batchnorm", "layernorm"):
            continue
        m = _values_per_statistic(data, i)
        for kind, variant, forward, override, text in NORMS:
            if forward == forward_wrong and m > 1:
                words = text.format(shrink=np.sqrt((m - 1) / m), m=m)
                found.append(SequenceWhatIf(kind, (i,), f"{_words(spec, i)}: {words}",
                                            lambda i=i, o=override: {"overrides": {i: o}}, variant=variant,
                                            reach=None if forward else i))
    return found


def _fit(data: CaseData, seen: Mapping[str, np.ndarray], at_zero: dict, at_one: dict) -> float | None:
    """The constant c that makes ``at_zero + c·(at_one − at_zero)`` closest to ``seen`` (least
    squares over the gradients), or None when the change does not move them."""
    names = [t for t in seen if t not in ("output", "loss") and t in at_zero and seen[t].shape == at_zero[t].shape]
    slope = np.concatenate([(at_one[t] - at_zero[t]).ravel() for t in names] or [np.zeros(0)])
    offset = np.concatenate([(seen[t] - at_zero[t]).ravel() for t in names] or [np.zeros(0)])
    norm = float(slope @ slope)
    return float(slope @ offset) / norm if norm > 0 and np.isfinite(norm) else None


def _leaky(data: CaseData, i: int, slope: float) -> SequenceWhatIf:
    return SequenceWhatIf("leaky_slope", (i,), f"{_words(data.case.spec, i)}: backward uses the slope {slope:.4g} "
                          f"for negative inputs where {LEAKY_SLOPE:g} is due",
                          lambda: {"overrides": {i: bugs.leaky_slope(slope)}},
                          factor=Factor(slope, f"{slope:.4g}"), reach=i)


def _close(a: float, b: float, data: CaseData) -> bool:
    return abs(a - b) <= (1e-6 if data.case.dtype == "float64" else 2e-3) * max(abs(b), 1e-12)


def fitted_slopes(data: CaseData, seen: Mapping[str, np.ndarray]) -> Iterator[SequenceWhatIf]:
    """Each leaky ReLU with the negative slope fitted to the observation (the gradients are
    affine in it), unless the fit is the due slope or the missing derivative's 1."""
    for i, layer in enumerate(data.case.spec.layers):
        if layer.kind != "leaky_relu":
            continue
        slope = _fit(data, seen, _leaky(data, i, 0.0).predict(data), _leaky(data, i, 1.0).predict(data))
        if slope is not None and not any(_close(slope, known, data) for known in (LEAKY_SLOPE, 1.0)):
            yield _leaky(data, i, slope)


def fitted_divisors(data: CaseData, factors: list[Factor]) -> Iterator[SequenceWhatIf]:
    """Each average pool whose backward divides by d = k²/f, for each fitted factor f that is
    neither 1 nor one ``pool_divisor_changes`` already tries (d = k or 1)."""
    spec = data.case.spec
    for i, layer in enumerate(spec.layers):
        if layer.kind != "avgpool2d":
            continue
        k2 = layer.kernel ** 2
        for factor in factors:
            if factor.value <= 0 or any(_close(factor.value, k2 / d, data) for d in (k2, layer.kernel, 1)):
                continue
            divisor = k2 / factor.value
            shown = f"{round(divisor)}" if _close(divisor, round(divisor), data) else f"{divisor:.4g}"
            yield SequenceWhatIf("avgpool_divisor", (i,), f"{_words(spec, i)}: backward divides each window's "
                                 f"gradient by {shown} where k² = {k2} is due (×{factor.value:.4g})",
                                 lambda i=i, d=divisor: {"overrides": {i: avgpool_divisor(d)}},
                                 factor=Factor(factor.value, f"k²/{shown}"), reach=i, variant="divisor_fitted")


def bias_penalty_changes(data: CaseData) -> list[SequenceWhatIf]:
    """The L2 penalty applied to the biases too (in the loss and its gradient, or in the gradient only)."""
    spec = data.case.spec
    biases = tuple(name for name in spec.param_shapes if name.endswith(".bias") and spec.layers[
        int(name.partition(".")[0])].kind in ("dense", "conv2d"))
    if not spec.l2 or not biases:
        return []
    return [SequenceWhatIf("l2_on_biases", (), f"the L2 penalty is applied to the biases too ({', '.join(biases)})"
                           + ("" if in_loss else ", in their gradients only (the loss leaves them out)"),
                           lambda in_loss=in_loss: {"also_penalised": biases, "penalty_in_loss": in_loss},
                           variant="loss_and_gradient" if in_loss else "gradient_only")
            for in_loss in (True, False)]
