"""Case data moved onto a ReLU's doorstep: one pre-activation placed a chosen distance from its kink.

Generated data keeps ``spec.KINK_MARGIN`` from every kink; these helpers
undo that on purpose, to show what the finite-difference checks do when a
margin cannot be kept.
"""

from __future__ import annotations

import numpy as np

from conformance.cases.spec import CaseData, KINKED_ACTIVATIONS, Params
from conformance.cases.mlp_data import kink_margin, preactivations


def placed_near_kink(data: CaseData, distance: float) -> CaseData:
    """A copy of ``data`` in which the first kinked layer's pre-activation nearest its kink
    sits ``distance`` from it, on the same side, by shifting that unit's bias (the layer
    must have one). Other samples of that unit move by the same amount; later layers follow."""
    spec = data.case.spec
    layer = next(i for i, item in enumerate(spec.layers) if item.activation in KINKED_ACTIVATIONS)
    if data.params.biases[layer] is None:
        raise ValueError(f"layer {layer} has no bias to move its pre-activation with")
    z = preactivations(spec, data.params, data.x)[layer]
    sample, unit = np.unravel_index(int(np.argmin(np.abs(z))), z.shape)
    side = 1.0 if z[sample, unit] >= 0 else -1.0
    biases = [None if b is None else b.copy() for b in data.params.biases]
    bias = biases[layer]
    bias[unit] = np.float64(bias[unit]) + side * distance - z[sample, unit]
    params = Params(tuple(w.copy() for w in data.params.weights), tuple(biases))
    return CaseData(data.case, params, data.x.copy(), data.upstream.copy(), data.targets.copy(),
                    kink_margin(spec, params, data.x))
