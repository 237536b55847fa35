"""The library of bug hypotheses: each one a precise change to the intended network or to
one returned tensor, and what the implementation would return if it had that bug.

Two kinds:

* ``WhatIf``: a change to the network's forward or backward at some layers (the
  loss gradient times a factor, a derivative at the wrong point, a transposed
  weight carrying the gradient down, ...). Its prediction is the PyTorch
  oracle's answer for the changed network (``oracles.torch.evaluate`` with
  the overrides of ``oracles.whatif``), every tensor at once.
* ``Reshaping``: a change to one returned tensor on its way out (a constant
  factor, not summed over the batch, transposed), tried tensor by tensor on
  top of a what-if's prediction.

Layers are counted from 0, as in ``weight[0]``.

Longer than 300 lines: it is the library of named bugs, one short entry each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from conformance.oracles import whatif
from conformance.oracles.torch import Reference, evaluate
from conformance.cases.spec import CaseData
from conformance.cases.mlp_data import preactivations

MEAN_LOSSES = ("mse", "half_mse")


# ---- factors -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Factor:
    value: float
    name: str

    @property
    def named(self) -> bool:
        """A constant with a name (−1, 2, batch, ...), not a fitted number."""
        return self.name != f"{self.value:.4g}"

    def __str__(self) -> str:
        if self.name in ("−1", "2", "1/2", "−2", "−1/2", "0") or self.name == f"{self.value:g}":
            return f"×{self.name}"
        return f"×{self.value:g} = {self.name}"


def named_factors(data: CaseData, at_loss: bool = False) -> list[Factor]:
    """The constants a wrong gradient is typically off by, for this case's batch and outputs;
    with ``at_loss`` for a mean loss, the mean's constants are named first."""
    batch, outputs = data.case.batch, data.case.spec.output_shape(1)[-1]
    simple = [Factor(-1, "−1"), Factor(2, "2"), Factor(0.5, "1/2"), Factor(-2, "−2"), Factor(-0.5, "−1/2")]
    # One name per value: where two sizes are one number (one output: batch·outputs = batch),
    # the simpler name comes first, so a bias averaged over the batch is "1/batch" in every case.
    sized = [Factor(batch, "batch"), Factor(1 / batch, "1/batch"),
             Factor(outputs, "outputs"), Factor(1 / outputs, "1/outputs"),
             Factor(batch * outputs, "batch·outputs"), Factor(1 / (batch * outputs), "1/(batch·outputs)"),
             Factor(-batch, "−batch"), Factor(-batch * outputs, "−batch·outputs")]
    mean = at_loss and data.case.spec.loss in MEAN_LOSSES + ("softmax_cross_entropy",)
    if mean:  # a mean loss's own denominator first: it is what such a gradient misses
        sized = sorted(sized, key=lambda f: "·" not in f.name)
    # A size that equals a plain constant (−batch at batch 1 is −1) is that constant, unless it is
    # a mean's missing denominator: then both are named, as the data cannot tell them apart.
    means = ("batch·outputs", "outputs", "batch")
    sized = [f for f in sized if f.value not in {s.value for s in simple} or (mean and f.name in means)]
    ordered = sized + simple if mean else simple + sized
    return [f for f in ordered if f.value != 1]


def factors_named(value: float, data: CaseData, at_loss: bool = False) -> list[Factor]:
    """Every named constant ``value`` is (to the case's precision), in the library's order;
    else ``value`` itself as a number."""
    closeness = 1e-6 if data.case.dtype == "float64" else 2e-3
    found = [f for f in named_factors(data, at_loss) if abs(value - f.value) <= closeness * abs(f.value)]
    return found or [Factor(value, f"{value:.4g}")]


def factor_named(value: float, data: CaseData, at_loss: bool = False) -> Factor:
    """``value`` as a named constant when it is one (to the case's precision), else as a number."""
    return factors_named(value, data, at_loss)[0]


# ---- what-if networks ----------------------------------------------------------------------------

Overrides = tuple[list, list]  # (layer_activations, linears) for ``evaluate``


@dataclass(frozen=True)
class WhatIf:
    """A changed network: what the change is, where, and how to build it for the oracle."""

    kind: str
    layers: tuple[int, ...]
    text: str
    #: Layer activation and affine overrides, index by layer (None keeps a layer's own).
    build: Callable[[], Overrides] = field(repr=False, compare=False)
    factor: Factor | None = None
    variant: str = ""
    #: The highest layer whose gradients a backward-only change can alter (None: a forward
    #: change, which can alter every tensor).
    reach: int | None = None
    #: The tensors the change reaches (every one when empty); the others are the intended ones.
    only: tuple[str, ...] = ()

    def predict(self, data: CaseData) -> dict[str, np.ndarray]:
        activations, linears = self.build()
        changed = predicted(evaluate(data.case.spec, data.params, data.x, data.upstream, data.targets,
                                     layer_activations=activations, linears=linears,
                                     conventions=data.case.conventions), data)
        if not self.only:
            return changed
        intended = predicted(evaluate(data.case.spec, data.params, data.x, data.upstream, data.targets,
                                      conventions=data.case.conventions), data)
        return intended | {t: changed[t] for t in self.only if t in changed}


def predicted(ref: Reference, data: CaseData) -> dict[str, np.ndarray]:
    """Output, loss (in a loss case) and every gradient tensor of an oracle answer, by name."""
    tensors = {"output": ref.output}
    if data.case.spec.loss is not None:
        tensors["loss"] = np.asarray(ref.loss)
    tensors |= {name: g for name, g in ref.gradients.tensors().items() if g is not None}
    return tensors


def _layer_words(layers: Sequence[int], depth: int) -> str:
    if len(layers) == 1:
        (layer,) = layers
        return f"layer {layer}" + (" (the output layer)" if layer == depth - 1 and depth > 1 else "")
    return "layers " + ", ".join(map(str, layers[:-1])) + f" and {layers[-1]}"


def _overrides(depth: int, at: dict[int, object], linears: dict[int, object] | None = None) -> Overrides:
    linears = linears or {}
    return [at.get(i) for i in range(depth)], [linears.get(i) for i in range(depth)]


def _layer_sets(spec, activation_filter: Callable[[str], bool]) -> list[tuple[int, ...]]:
    """Each layer on its own, then every layer of one activation together (one shared function
    written wrong), for the layers whose activation passes the filter. Single layers come
    first: when a change at one layer already reproduces everything, the same change at the
    others made no visible difference, and the smaller claim is the one the data supports."""
    singles = [(i,) for i, layer in enumerate(spec.layers) if activation_filter(layer.activation)]
    shared = []
    for name in dict.fromkeys(layer.activation for layer in spec.layers):
        together = tuple(i for i, layer in enumerate(spec.layers) if layer.activation == name)
        if len(together) > 1 and activation_filter(name):
            shared.append(together)
    # layers of several activations other than the identity (tanh hidden layers under a sigmoid
    # output): the same slip in each one's derivative, all at once
    mixed = tuple(i for (i,) in singles if spec.layers[i].activation != "identity")
    if len({spec.layers[i].activation for i in mixed}) > 1:
        shared.append(mixed)
    return singles + shared


def scaled(data: CaseData, point: int, factor: Factor) -> WhatIf:
    """The gradient reaching layer ``point``'s output is multiplied by ``factor``: at the last layer
    that is the loss (or upstream) gradient; lower, what layer ``point + 1`` passes down."""
    spec = data.case.spec
    depth = spec.depth
    fn = whatif.function(spec.layers[point].activation)
    if point == depth - 1:
        what = "the loss gradient" if spec.loss else "every gradient (as if the upstream gradient were scaled)"
        text = f"{what} is {factor}"
        if spec.loss and factor.value == -1:
            text = "sign error: the loss gradient is negated (target − output instead of output − target)"
        elif spec.loss in MEAN_LOSSES and factor.name == "batch·outputs":
            text = f"the loss gradient misses the mean's 1/(batch·outputs) (it is {factor})"
        elif spec.loss in MEAN_LOSSES and factor.name == "outputs":
            text = f"the loss gradient misses the mean's 1/outputs (it is {factor})"
        elif spec.loss in MEAN_LOSSES + ("softmax_cross_entropy",) and factor.name == "batch":
            text = f"the loss gradient misses the mean's 1/batch (it is {factor})"
        elif spec.loss is None and factor.value == -1:
            text = "sign error: every gradient is negated"
    else:
        sign = "sign error: " if factor.value == -1 else ""
        text = (f"{sign}the gradient {_layer_words([point + 1], depth)} passes down is {factor}, "
                f"so every gradient from layer {point} down is too")
    return WhatIf("scaled_gradient", (point,), text,
                  lambda: _overrides(depth, {point: whatif.scaled_gradient(fn, factor.value)}),
                  factor=factor, reach=point)


def _derivative_depends_on_where_taken(activation: str) -> bool:
    """tanh and sigmoid: taken at the output instead of the pre-activation, the derivative changes
    (ReLU's and the identity's do not)."""
    return activation in ("tanh", "sigmoid")


def derivative_changes(data: CaseData) -> list[WhatIf]:
    """A layer's activation derivative at the wrong point, missing, or another activation's."""
    spec = data.case.spec
    depth, found = spec.depth, []

    def add(kind, layers, text, backward_factor_for, variant=""):
        def build():
            at = {}
            for i in layers:
                name = spec.layers[i].activation
                at[i] = whatif.activation(whatif.function(name), backward_factor_for(name))
            return _overrides(depth, at)
        found.append(WhatIf(kind, layers, text, build, variant=variant, reach=max(layers)))

    for layers in _layer_sets(spec, _derivative_depends_on_where_taken):
        act = " and ".join(dict.fromkeys(spec.layers[i].activation for i in layers))
        words = _layer_words(layers, depth)
        add("derivative_at_output", layers,
            f"{words}: the {act} derivative is evaluated at the activation's output instead of its pre-activation",
            lambda name: (lambda z, d=whatif.derivative(name), f=whatif.function(name): d(f(z))))
        add("derivative_formula_at_preactivation", layers,
            f"{words}: the {act} derivative's formula in terms of the output is applied to the pre-activation "
            f"({'1 − z²' if act == 'tanh' else 'z·(1 − z)'} where {'1 − a²' if act == 'tanh' else 'a·(1 − a)'} is due)",
            whatif.derivative_from_output)
    for layers in _layer_sets(spec, lambda name: name == "tanh"):
        add("tanh_derivative_not_squared", layers,
            f"{_layer_words(layers, depth)}: the tanh derivative is written 1 − a where 1 − a² is due "
            f"(a = tanh(z), the square left out)",
            lambda name: (lambda z: 1 - torch.tanh(z)))
    for layers in _layer_sets(spec, lambda name: name != "identity"):
        act = spec.layers[layers[0]].activation
        add("missing_derivative", layers, f"{_layer_words(layers, depth)}: the {act} derivative is missing in backward",
            lambda name: whatif.derivative("identity"))
    for layers in _layer_sets(spec, lambda name: True):
        act = spec.layers[layers[0]].activation
        for other in whatif.ACTIVATIONS:
            if other in (act, "identity"):
                continue
            add("other_derivative", layers,
                f"{_layer_words(layers, depth)}: backward uses the {other} derivative "
                f"where the {act} derivative is due",
                lambda name, other=other: whatif.derivative(other), variant=other)
    for layers in _layer_sets(spec, lambda name: name == "identity"):
        add("identity_derivative_is_input", layers, f"{_layer_words(layers, depth)}: backward multiplies by z "
            f"where the identity's derivative, 1, is due", lambda name: (lambda z: z))
    return found


def derivative_one_layer_off(data: CaseData) -> list[WhatIf]:
    """A layer's activation derivative taken at the next layer's pre-activation (an index one
    off in a delta recursion); it only runs when the two layers are equally wide."""
    spec = data.case.spec
    depth = spec.depth
    off = [i for i in range(depth - 1) if spec.layers[i].n_out == spec.layers[i + 1].n_out
           and spec.layers[i].activation not in ("identity",)]
    sets = [(i,) for i in off] + ([tuple(off)] if len(off) > 1 else [])

    def build(layers):
        import torch

        zs = [torch.as_tensor(z) for z in preactivations(spec, data.params, data.x)]
        return _overrides(depth, {i: whatif.activation(
            whatif.function(spec.layers[i].activation),
            lambda z, d=whatif.derivative(spec.layers[i].activation), above=zs[i + 1]: d(above)) for i in layers})

    return [WhatIf("derivative_one_layer_off", layers,
                   f"{_layer_words(layers, depth)}: the {spec.layers[layers[0]].activation} derivative is taken at "
                   f"the next layer's pre-activation instead of the layer's own (an index one off in the backward "
                   f"recursion)", lambda layers=layers: build(layers), reach=max(layers))
            for layers in sets]


def forward_changes(data: CaseData) -> list[WhatIf]:
    """A forward pass that computes something else at some layers, its backward otherwise intended."""
    spec = data.case.spec
    depth, found = spec.depth, []
    for layers in _layer_sets(spec, lambda name: True):
        act = spec.layers[layers[0]].activation
        words = _layer_words(layers, depth)
        step = " (a 0/1 step)" if act == "relu" else ""
        found.append(WhatIf(
            "forward_uses_derivative", layers,
            f"{words}: the forward applies the {act} derivative{step} where {act} belongs "
            f"(backward keeps the {act} derivative)",
            lambda layers=layers: _overrides(depth, {i: whatif.activation(
                whatif.derivative(spec.layers[i].activation), whatif.derivative(spec.layers[i].activation))
                for i in layers})))
    for layers in _layer_sets(spec, lambda name: True):
        act = spec.layers[layers[0]].activation
        for other in whatif.ACTIVATIONS:
            if other == act:
                continue
            found.append(WhatIf(
                "forward_other_activation", layers,
                f"{_layer_words(layers, depth)}: the forward applies {other} where {act} belongs",
                lambda layers=layers, other=other: _overrides(depth, {i: whatif.function(other) for i in layers}),
                variant=other))
    for i, layer in enumerate(spec.layers):
        if layer.bias:
            found.append(WhatIf(
                "forward_without_bias", (i,), f"{_layer_words([i], depth)}: the forward leaves out the bias",
                lambda i=i: _overrides(depth, {}, {i: whatif.affine(with_bias=False)})))
    return found


def input_gradient_changes(data: CaseData, input_observed: bool) -> list[WhatIf]:
    """The input gradient passed down from the gradient at the first layer's output, its
    activation derivative skipped (the weights' gradients right: only the input is wrong)."""
    spec = data.case.spec
    first = spec.layers[0].activation
    if not input_observed or first == "identity":
        return []
    return [WhatIf("input_gradient_skips_derivative", (0,),
                   f"the input gradient skips layer 0's {first} derivative (it is the gradient at layer 0's "
                   f"output times W; the weight and bias gradients are right)",
                   lambda: _overrides(spec.depth, {0: whatif.activation(whatif.function(first), torch.ones_like)}),
                   reach=-1, only=("input",))]


def backward_weight_changes(data: CaseData, input_observed: bool) -> list[WhatIf]:
    """The gradient a layer passes down carried by its transposed weight (a square layer)."""
    spec = data.case.spec
    depth, found = spec.depth, []
    for i, layer in enumerate(spec.layers):
        if layer.n_in == layer.n_out and (i > 0 or input_observed):
            found.append(WhatIf(
                "transposed_weight_in_backward", (i,),
                f"{_layer_words([i], depth)}: backward passes the gradient down through Wᵀ instead of W "
                f"(the transposed weight)",
                lambda i=i: _overrides(depth, {}, {i: whatif.affine(lambda w: w.T)}), reach=i - 1))
    return found


def updated_weights(data: CaseData, ref: Reference, layers: int | tuple[int, ...], rate: float) -> WhatIf:
    """Layers ``layers`` pass the gradient down through their weights after an SGD step of ``rate``
    (``W - rate * dW``, dW the layer's own gradient as computed) instead of the current ones."""
    layers = (layers,) if isinstance(layers, int) else tuple(layers)
    depth = data.case.spec.depth

    def build():
        return _overrides(depth, {}, {i: whatif.updated_affine(rate) for i in layers})
    return WhatIf("updated_weights_in_backward", layers,
                  f"{_layer_words(layers, depth)}: backward passes the gradient down through the weights already "
                  f"updated in place (W − {rate:.3g}·dW) instead of the current ones",
                  build, reach=max(layers) - 1)


# ---- reshapings of one returned tensor --------------------------------------------------------------

def _shapes(seen: Sequence[tuple], due: Sequence[tuple]) -> str:
    """The shape returned against the one due, of the first tensor where they differ; nothing
    where none does (a square layer's transposed gradient has the shape due)."""
    differ = [(s, d) for s, d in zip(seen, due) if s != d]
    return f"shape {differ[0][0]} where {differ[0][1]} is due, and " if differ else ""


@dataclass(frozen=True)
class Reshaping:
    """How one returned tensor differs from what was due: its kind, and a factor when it is one."""

    kind: str
    factor: Factor | None = None

    def describe(self, tensors: Sequence[str], shapes_seen: Sequence[tuple], shapes_due: Sequence[tuple]) -> str:
        """In words, for ``tensors`` of these shapes returned and due."""
        names, shape_seen, shape_due = ", ".join(tensors), shapes_seen[0], shapes_due[0]
        if self.kind == "not_reduced_over_batch":
            return (f"{names} not summed over the batch: {_shapes(shapes_seen, shapes_due)}"
                    f"summed over the batch it is right")
        if self.kind == "transposed_gradient":
            return f"{names} transposed: {_shapes(shapes_seen, shapes_due)}its transpose is right"
        if self.kind == "bias_summed_over_wrong_axis":
            return (f"{names} summed over the wrong axis: δ summed over the units, one value per sample (shape "
                    f"{shape_seen}), where its sum over the batch (shape {shape_due}) is due")
        if self.kind == "weight_gradient_from_output":
            return (f"{names} computed from the layer's own output instead of its input (δᵀ·a, shape {shape_seen}, "
                    f"where δᵀ·x, shape {shape_due}, is due)")
        if self.kind == "clipped":
            c = self.factor.name
            return f"{names} clipped to {c} inside backward: every wrong element is exactly {c}, the rest right"
        if self.factor.value == 0:
            return f"{names} all zeros"
        if self.factor.value == -1:
            return f"sign error in {names} alone"
        return f"{names} {self.factor} (only {'these' if len(tensors) > 1 else 'this'})"
