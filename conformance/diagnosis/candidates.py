"""The search's candidates: which what-if networks the diagnosis tries for a failing case, likeliest
first (``what_ifs``), and the constants fitted to what the implementation returned (the factors
a tensor is off by, a learning rate applied before the gradients were passed down)."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from conformance.diagnosis import hypotheses as h
from conformance.diagnosis import labels, sequence_hypotheses
from conformance.diagnosis.next_layer import next_layer_derivatives as next_layer
from conformance.oracles.torch import Reference
from conformance.cases.layers import SequenceSpec, layer_of
from conformance.cases.spec import CaseData


def ratio(seen: np.ndarray, due: np.ndarray) -> float | None:
    """The factor that scales ``due`` closest to ``seen`` (least squares), or None."""
    if seen.shape != due.shape:
        return None
    norm = float(np.sum(due * due))
    return float(np.sum(seen * due)) / norm if norm > 0 else None


def _candidate_factors(seen, due, start: int | None, data: CaseData, at_loss: bool) -> list[h.Factor]:
    """−1, and the ratios of the mismatching tensors at the start layer (named where they have a name)."""
    found = {(-1.0, "−1"): h.Factor(-1, "−1")}
    for tensor, array in seen.items():
        if tensor in ("output", "loss") or (start is not None and layer_of(tensor) not in (start, None)):
            continue
        found_ratio = ratio(array, due[tensor])
        if found_ratio is not None and found_ratio not in (0.0, 1.0) and np.isfinite(found_ratio):
            # Every name the value has (at batch 1, outputs and batch·outputs are one number):
            # each becomes its own hypothesis, and the diagnosis names them all.
            for factor in h.factors_named(found_ratio, data, at_loss):
                found.setdefault((factor.value, factor.name), factor)
    return list(found.values())


def what_ifs(data: CaseData, ref: Reference, seen, due, start: int | None, forward_wrong: bool,
             reach_needed: int) -> Iterator[h.WhatIf]:
    """The network-level hypotheses worth evaluating for this mismatch, likeliest first (``_changes``);
    with a right output, the forward bugs come last: one can leave the output within the tolerance
    while the more sensitive gradients are not (GELU's two conventions in float32)."""
    yield from _changes(data, ref, seen, due, start, forward_wrong, reach_needed)
    if not forward_wrong:
        yield from _changes(data, ref, seen, due, start, True, reach_needed)


def _changes(data: CaseData, ref: Reference, seen, due, start: int | None, forward_wrong: bool,
             reach_needed: int) -> Iterator[h.WhatIf]:
    """The forward changes when the output is wrong, else the backward ones, likeliest first.

    A backward-only change must reach layer ``reach_needed`` (the highest layer whose wrong
    gradients no reshaping of the intended ones explains), and a change at one layer must
    not reach above ``start`` (the highest layer with wrong gradients: it would have changed
    that layer's own). A change at several layers may: at one of them it can be too small to
    see (a derivative taken at an output near zero) and plain below."""
    spec = data.case.spec
    if isinstance(spec, SequenceSpec):
        factors = [] if forward_wrong else _candidate_factors(seen, due, None, data, True)
        yield from sequence_hypotheses.what_ifs(data, forward_wrong, factors, seen)
        return
    if forward_wrong:
        yield from h.forward_changes(data)
        return
    scales = [h.scaled(data, point, factor) for point in range(spec.depth - 1, -1, -1)
              for factor in _candidate_factors(seen, due, start, data, at_loss=point == spec.depth - 1)]
    likely = ([w for w in scales if w.factor.named] + labels.shifted(data) + next_layer(data)
              + h.derivative_changes(data) + next_layer(data, missing=True)
              + h.backward_weight_changes(data, "input" in seen) + h.derivative_one_layer_off(data)
              + h.input_gradient_changes(data, "input" in seen))
    highest = start if start is not None else -1

    def fits(w: h.WhatIf) -> bool:
        return w.reach >= reach_needed and (w.reach <= highest or len(w.layers) > 1)

    yield from filter(fits, likely)
    yield from filter(fits, _learning_rate_fits(data, ref, seen, due, reach_needed, highest))
    # A factor without a name comes last: on degenerate data (one active unit) a structural
    # bug can look like a scaled gradient, and the structural explanation is the likelier one.
    yield from filter(fits, (w for w in scales if not w.factor.named))


def _below(layer: int, tensors: Iterable[str]) -> list[str]:
    """The input and the weights and biases of the layers below ``layer``."""
    return [t for t in tensors if t == "input" or (layer_of(t) is not None and layer_of(t) < layer)]


def _fitted_rate(data, ref, seen, due, layer: int, tensors: list[str]) -> float | None:
    """The learning rate that makes layer ``layer``'s update reproduce ``tensors`` best: they
    are linear in it (least squares), or None when the update does not move them."""
    tensors = [t for t in tensors if t in seen and seen[t].shape == due[t].shape]
    if not tensors:
        return None
    unit = h.updated_weights(data, ref, layer, 1.0).predict(data)
    slope = np.concatenate([(unit[t] - due[t]).ravel() for t in tensors])
    offset = np.concatenate([(seen[t] - due[t]).ravel() for t in tensors])
    if not np.any(slope):
        return None
    rate = float(slope @ offset / (slope @ slope))
    return rate if rate > 0 else None


def _learning_rate_fits(data: CaseData, ref: Reference, seen, due, reach_needed: int,
                        highest: int) -> Iterator[h.WhatIf]:
    """Updated-weights hypotheses with the learning rate fitted to the observation: one per
    layer whose change reaches from ``reach_needed`` to ``highest`` (the gradients below it are
    linear in the rate), then every layer from the first up to it updated at one rate (fitted
    on the layer just below it, which only its update moves)."""
    depth = data.case.spec.depth
    for layer in range(max(reach_needed + 1, 0), min(highest + 1, depth - 1) + 1):
        if (rate := _fitted_rate(data, ref, seen, due, layer, _below(layer, seen))) is not None:
            yield h.updated_weights(data, ref, layer, rate)
    for layer in range(max(reach_needed + 1, 1), min(highest + 1, depth - 1) + 1):
        just_below = [t for t in seen if layer_of(t) == layer - 1] or _below(layer, seen)
        if (rate := _fitted_rate(data, ref, seen, due, layer, just_below)) is not None:
            first = 0 if "input" in seen else 1
            yield h.updated_weights(data, ref, tuple(range(first, layer + 1)), rate)
