"""A layer's activation derivative taken from the next layer's activation: backward code that
walks down the layers and multiplies the gradient arriving at layer i by the derivative of
the activation of layer i + 1 (the layer it has in hand), either at layer i's own
pre-activation (σ'(z)) or, in code that caches outputs, as the next activation's formula in
terms of the output applied to layer i's own output (a·(1 − a) with a = tanh(z)).

It only shows where two neighbouring layers differ in activation: under an identity output
it is the last hidden layer's missing derivative (both are named, the case cannot tell
them apart); under a sigmoid output, or between mixed hidden activations, it is its own.
"""

from __future__ import annotations

from conformance.cases.spec import CaseData
from conformance.diagnosis.hypotheses import WhatIf, _layer_words, _overrides
from conformance.oracles import whatif

#: Own activations whose output has the sign of the pre-activation: on them ReLU's derivative
#: in terms of the output, (a > 0), is its derivative at z, so the output form is no other bug.
_SIGN_KEEPING = ("identity", "relu", "tanh")


def output_form_differs(own: str, next_act: str) -> bool:
    """Whether the next activation's output formula on this layer's output differs from its
    derivative at this layer's pre-activation."""
    return next_act != "identity" and not (next_act == "relu" and own in _SIGN_KEEPING)


def output_variant(spec) -> str:
    """"output" where the bug's output form is another bug than its pre-activation form at some
    layer of this network, else "" (the two are one, as under an identity output)."""
    acts = [layer.activation for layer in spec.layers]
    return "output" if any(acts[i] != acts[i + 1] and output_form_differs(acts[i], acts[i + 1])
                           for i in range(spec.depth - 1)) else ""


def next_layer_derivatives(data: CaseData, missing: bool = False) -> list[WhatIf]:
    """Each layer whose next layer's activation differs, on its own, then all of them together,
    in the pre-activation form, then in the output form where that is another bug;
    ``missing``: only the single layers under an identity (a missing derivative, said first),
    else all the others."""
    spec = data.case.spec
    acts = [layer.activation for layer in spec.layers]
    differ = [i for i in range(spec.depth - 1) if acts[i] != acts[i + 1]]
    sets = [(i,) for i in differ] + ([tuple(differ)] if len(differ) > 1 else [])
    sets = [s for s in sets if (len(s) == 1 and acts[s[0] + 1] == "identity") == missing]
    outputs = [s for s in sets if any(output_form_differs(acts[i], acts[i + 1]) for i in s)]
    return [_what_if(spec, acts, s, False) for s in sets] + [_what_if(spec, acts, s, True) for s in outputs]


def _factor(acts: list[str], i: int, at_output: bool):
    """Layer i's backward factor as a function of its pre-activation z."""
    if not at_output:
        return whatif.derivative(acts[i + 1])
    return lambda z, f=whatif.function(acts[i]), d=whatif.derivative_from_output(acts[i + 1]): d(f(z))


def _said(acts: list[str], i: int, at_output: bool) -> str:
    due = f"where its own {acts[i]} derivative is due"
    if not at_output:
        return f"layer {i} uses the {acts[i + 1]} derivative {due}"
    formula = {"sigmoid": "a·(1 − a)", "tanh": "1 − a²", "relu": "(a > 0)"}[acts[i + 1]]
    return f"layer {i} multiplies by {formula}, the {acts[i + 1]} derivative in terms of the output, " \
           f"of its own {acts[i]} output a {due}"


def _what_if(spec, acts: list[str], layers: tuple[int, ...], at_output: bool) -> WhatIf:
    def build():
        return _overrides(spec.depth, {i: whatif.activation(whatif.function(acts[i]), _factor(acts, i, at_output))
                                       for i in layers})

    where = "applied to the layer's own output" if at_output else "each at the layer's own pre-activation"
    return WhatIf("derivative_of_next_layer", layers,
                  f"{_layer_words(layers, spec.depth)}: the activation derivative is the next layer's "
                  f"({'; '.join(_said(acts, i, at_output) for i in layers)}, {where})",
                  build, variant="output" if at_output else "", reach=max(layers))
