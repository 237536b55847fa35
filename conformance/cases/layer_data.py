"""Deterministic data for layer-sequence cases, and the distance of a point from its kinks.

``generate_case`` is the one entry for any case: an MLP's data comes from ``spec.generate``
unchanged, a layer-sequence network's from ``generate_sequence``. That draws parameters of
order one (dense and conv weights scaled by 1/√fan-in, norm weights near 1), dropout
keep-masks, the input (an embedding's: token indices with repeats), the upstream gradient
and the targets from the case's seed; where the network has kinks (ReLU, leaky ReLU,
max-pool, the hinge) it draws everything again, ``DRAWS`` times at most, keeping the draw
farthest from them, and records the distance kept (``CaseData.kink_margin``). Conv nets
have hundreds of ReLU units, so the margin is rarely ``spec.KINK_MARGIN``; the
finite-difference guard shrinks its steps below the margin kept, or marks an estimate
unreliable, and the margin stays far above rounding.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from conformance.cases import torch_layers
from conformance.cases.graph_layers import layer_named
from conformance.cases.magnitude import enlarged
from conformance.cases.layers import (LABEL_LOSSES, BatchNorm, Conv2d, Dense, LayerNorm,
                                      NamedParams, SequenceSpec)
from conformance.cases.spec import Case, CaseData, KINK_MARGIN, rng_for
from conformance.cases.mlp_data import generate

#: Draws of a kinked network's data before the farthest from its kinks is kept.
DRAWS = 24


def generate_case(case: Case) -> CaseData:
    """Any case's data: an MLP's as ``spec.generate`` makes it, a layer sequence's here; a case
    of the large family scaled (``cases.magnitude``)."""
    data = generate_sequence(case) if isinstance(case.spec, SequenceSpec) else generate(case)
    if not case.large:
        return data
    data = enlarged(data)
    if isinstance(case.spec, SequenceSpec):
        params = data.params
        kinks = torch_layers.kinks_at(case.spec, data.x, params.tensors | params.buffers, data.targets)
        data = replace(data, kink_margin=kink_distance(kinks))
    return data


def kink_distance(kinks: torch_layers.Kinks) -> float:
    """How far the point is from its nearest kink: the smallest |ReLU input| or hinge margin,
    and the smallest lead of a max-pool window's maximum over another element (two exact
    zeros aside: the outputs of ReLUs switched off, whose gradient is zero either way)."""
    found = [float(s.abs().min()) for s in kinks.signs if s.numel()]
    found += [float(lead.min()) for lead in _leads(kinks) if lead.numel()]
    return min(found, default=float("inf"))


def _leads(kinks: torch_layers.Kinks) -> list[torch.Tensor]:
    """Per max-pool, the lead of each window's (centre) maximum over its other elements."""
    found = []
    for values, top in kinks.leads:
        best = values.gather(2, top)
        lead = best - values
        ignored = (values.scatter(2, top, float("nan")).isnan()) | ((best == 0) & (values == 0))
        found.append(lead[~ignored])
    return found


def _draw_params(spec: SequenceSpec, rng: np.random.Generator, dtype, batch: int) -> NamedParams:
    tensors = {}
    for name, shape in spec.param_shapes.items():
        layer = layer_named(spec, name)
        if isinstance(layer, (Dense, Conv2d)) and name.endswith("weight"):
            fan_in = int(np.prod(shape[1:]))
            value = rng.standard_normal(shape) * (1.2 / np.sqrt(fan_in))
        elif isinstance(layer, (BatchNorm, LayerNorm)) and name.endswith("weight"):
            value = 1.0 + 0.3 * rng.standard_normal(shape)
        else:
            value = (0.5 if isinstance(layer, (Dense, Conv2d)) else 0.3) * rng.standard_normal(shape)
        tensors[name] = value.astype(dtype)
    buffers = {}
    for name, shape in spec.buffer_shapes(batch).items():
        if not name.endswith(".mask"):  # a recurrent layer's initial state
            buffers[name] = (0.5 * rng.standard_normal(shape)).astype(dtype)
            continue
        p = layer_named(spec, name).p  # a dropout's, inside a residual block or not
        mask = rng.random(shape) >= p
        mask.reshape(len(mask), -1)[:, 0] = True  # every sample keeps a unit: a zero checks nothing
        buffers[name] = mask.astype(dtype)
    return NamedParams(tensors, buffers)


def _draw_targets(spec: SequenceSpec, rng: np.random.Generator, dtype, batch: int) -> np.ndarray:
    shape = spec.output_shape(batch)
    if spec.loss in LABEL_LOSSES:
        return rng.integers(0, shape[-1], size=batch)
    if spec.loss == "binary_cross_entropy":
        return (rng.random(shape) < 0.5).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _draw_input(spec: SequenceSpec, rng: np.random.Generator, dtype, batch: int) -> np.ndarray:
    """The input: real values, or an embedding's token indices (int64), each sample's last token
    a repeat of its first, so that a repeated token's gradients must add up in its one row."""
    shape = spec.input_batch_shape(batch)
    if not spec.integer_input:
        return rng.standard_normal(shape).astype(dtype)
    tokens = rng.integers(0, spec.layers[0].num_embeddings, size=shape)
    tokens[:, -1] = tokens[:, 0]
    return tokens


def generate_sequence(case: Case) -> CaseData:
    """Draw a layer-sequence case's parameters, buffers, input, upstream gradient and targets."""
    spec, dtype, batch = case.spec, np.dtype(case.dtype), case.batch
    rng = rng_for(case, "data")
    best = None
    for _ in range(DRAWS):
        params = _draw_params(spec, rng, dtype, batch)
        x = _draw_input(spec, rng, dtype, batch)
        targets = _draw_targets(spec, rng, dtype, batch)
        margin = kink_distance(torch_layers.kinks_at(spec, x, params.tensors | params.buffers, targets))
        if best is None or margin > best[0]:
            best = margin, params, x, targets
        if margin >= KINK_MARGIN:
            break
    margin, params, x, targets = best
    upstream = rng.standard_normal(spec.output_shape(batch)).astype(dtype)
    return CaseData(case, params, x, upstream, targets, margin)
