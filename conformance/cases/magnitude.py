"""Large-magnitude data: a case of the large family (``Case.large``) is its network's usual
data with the last layer's values pushed out to where naive formulas break.

The last dense layer's weight and bias are scaled so that its largest pre-activation is
``LARGE[dtype]`` (no value beyond three times that in magnitude): 100 in float32, past
float32's ``exp`` overflow at 88.7 (so a float32-only implementation meets it too), 1000 in
float64, past 709.8: the logits spread over that range with large gaps
between them, sigmoid and tanh saturate, and the cross-entropies meet probabilities near 0
and 1. A network without such a layer (an activation alone) has its input scaled instead.
Scaling the last layer moves no ReLU of the layers below; the kink margin is measured again
(an MLP's here, a layer sequence's by ``layer_data.generate_case``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from conformance.cases import torch_layers
from conformance.cases.embedding import Embedding
from conformance.cases.layers import Conv2d, Dense, NamedParams, SequenceSpec
from conformance.cases.mlp_data import kink_margin, preactivations
from conformance.cases.spec import CaseData, Params

#: The largest |value| of a large case's last layer, by dtype.
LARGE = {"float32": 100.0, "float64": 1000.0}
#: Where ``exp`` overflows, by dtype (log of the largest finite number).
EXP_OVERFLOW = {"float32": 88.72, "float64": 709.78}


def enlarged(data: CaseData) -> CaseData:
    """The case's data with its last layer's values pushed to ``LARGE`` (see the module)."""
    if isinstance(data.case.spec, SequenceSpec):
        return _enlarged_sequence(data)
    spec, params = data.case.spec, data.params
    factor = _factor(preactivations(spec, params, data.x)[-1], LARGE[data.case.dtype])
    weights = params.weights[:-1] + (_scaled(params.weights[-1], factor),)
    last = params.biases[-1]
    biases = params.biases[:-1] + (None if last is None else _scaled(last, factor),)
    scaled = Params(weights, biases)
    return replace(data, params=scaled, kink_margin=kink_margin(spec, scaled, data.x))


def _factor(z: np.ndarray, target: float) -> float:
    """The scale that brings the largest value to ``target`` (so that ``exp`` of it overflows),
    no value beyond 3·``target`` in magnitude."""
    largest = max(float(np.max(np.abs(z))), 1e-3)
    return min(target / max(float(np.max(z)), 1e-3), 3 * target / largest)


def _scaled(a: np.ndarray, factor: float) -> np.ndarray:
    return (np.asarray(a, dtype=np.float64) * factor).astype(a.dtype)


def _last_parametrised(spec: SequenceSpec) -> int | None:
    # Layers whose output is linear in their weight; an embedding's token indices are never scaled.
    found = [i for i, layer in enumerate(spec.layers) if isinstance(layer, (Dense, Conv2d, Embedding))]
    return found[-1] if found else None


def _enlarged_sequence(data: CaseData) -> CaseData:
    spec, target = data.case.spec, LARGE[data.case.dtype]
    last = _last_parametrised(spec)
    if last is None:
        x = _scaled(data.x, _factor(data.x, target))
        params = data.params
    else:
        x = data.x
        z = _values_after(spec, last, x, data.params)
        factor = _factor(z, target)
        params = NamedParams({name: _scaled(t, factor) if name.startswith(f"{last}.") else t
                              for name, t in data.params.tensors.items()}, data.params.buffers)
    return replace(data, x=x, params=params)  # its kink margin measured again by ``layer_data``


def _values_after(spec: SequenceSpec, last: int, x: np.ndarray, params: NamedParams) -> np.ndarray:
    """Layer ``last``'s output (float64) for the case's input."""
    tensors = {k: torch.as_tensor(np.asarray(v, dtype=np.float64))
               for k, v in (params.tensors | params.buffers).items()}
    with torch.no_grad():
        a = torch.as_tensor(np.asarray(x, dtype=np.float64))
        for i, layer in enumerate(spec.layers[:last + 1]):
            a = torch_layers.apply_layer(layer, a, torch_layers.layer_params(tensors, i))
    return a.numpy()
