"""A layer's activation derivative taken from the next layer's activation: backward code that
walks down the layers and multiplies the gradient arriving at layer i by the derivative of
the activation of layer i + 1 (the layer it has in hand), at layer i's own pre-activation.

It only shows where two neighbouring layers differ in activation: under an identity output
it is the last hidden layer's missing derivative (both are named, the case cannot tell
them apart); under a sigmoid output, or between mixed hidden activations, it is its own.
"""

from __future__ import annotations

from conformance.cases.spec import CaseData
from conformance.diagnosis.hypotheses import WhatIf, _layer_words, _overrides
from conformance.oracles import whatif


def next_layer_derivatives(data: CaseData, missing: bool = False) -> list[WhatIf]:
    """Each layer whose next layer's activation differs, on its own, then all of them together;
    ``missing``: only the single layers under an identity (a missing derivative, said first),
    else all the others."""
    spec = data.case.spec
    acts = [layer.activation for layer in spec.layers]
    differ = [i for i in range(spec.depth - 1) if acts[i] != acts[i + 1]]
    sets = [(i,) for i in differ] + ([tuple(differ)] if len(differ) > 1 else [])
    sets = [s for s in sets if (len(s) == 1 and acts[s[0] + 1] == "identity") == missing]

    def build(layers):
        return _overrides(spec.depth, {i: whatif.activation(whatif.function(acts[i]), whatif.derivative(acts[i + 1]))
                                       for i in layers})

    def said(i):
        return f"layer {i} uses the {acts[i + 1]} derivative where its own {acts[i]} derivative is due"

    return [WhatIf("derivative_of_next_layer", layers,
                   f"{_layer_words(layers, spec.depth)}: the activation derivative is the next layer's "
                   f"({'; '.join(map(said, layers))}, each at the layer's own pre-activation)",
                   lambda layers=layers: build(layers), reach=max(layers))
            for layers in sets]
