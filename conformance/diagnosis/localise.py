"""Where a wrong backward can be: the span of layers the error enters in.

What a case shows is each parameter's gradient and the input gradient; the gradient one
layer passes to the next is not observable. Errors flow backward, so with the highest
layer whose parameter gradients are wrong (``wrong``) and the lowest layer above it
whose parameter gradients are right (``right``), the error entered in the backward of
a layer from ``wrong`` up to ``right``: ``wrong``'s own parameter gradient, a
parameterless layer in between (an activation, a pool, a norm without affine), or what
``right`` passes down. Nothing wrong above ``right`` has parameters, so the span is
exact; it is one layer only when the evidence pins one (a bug the diagnosis names at a
single layer inside the span). Only the input gradient wrong: from the first layer up
to the lowest one with right gradients.

Inside a residual block the same rule runs on its inner layers, from the parameter names
(``"1.inner.3.weight"``): the block with the highest wrong gradients has its inner span
from the highest inner layer with wrong gradients to the lowest right one above it (the
error then entered inside the block: the span is the block alone); a block whose
gradients are right bounds the span at its lowest inner layer with parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.cases.layers import SequenceSpec


@dataclass(frozen=True)
class Inner:
    """Inner layers ``low``..``high`` (of ``kinds``) of the residual block at layer ``block``
    that the error may enter in; ``wrong``/``right`` the inner bounds' parameter names."""

    block: int
    low: int
    high: int
    kinds: tuple[str, ...]
    wrong: str | None = None
    right: str | None = None
    #: The block's gradients are right: the sum of its branch's and its skip path's gradients,
    #: below every inner layer, may be where the error enters too.
    skip: bool = False

    def text(self) -> str:
        sum_too = " or the sum with its skip path" if self.skip else ""
        if self.low == self.high:
            return f"inner layer {self.low} ({self.kinds[self.low]}){sum_too}"
        return (f"one of inner layers {self.low}–{self.high} "
                f"({', '.join(self.kinds[self.low:self.high + 1])}){sum_too}")


@dataclass(frozen=True)
class Span:
    """Layers ``low``..``high`` (inclusive) of a network with layers of ``kinds``; ``wrong``/``right``
    are the evidence's bounds (``None``: no layer with wrong / with right gradients)."""

    low: int
    high: int
    kinds: tuple[str, ...]
    wrong: int | None
    right: int | None
    #: Nothing above has parameters and a loss ends the network: its gradient may be the wrong one.
    loss: bool = False
    #: Within residual blocks of the span: the inner layers the error may enter in.
    inner: tuple[Inner, ...] = ()
    #: The layers of the L2 penalty's parameters, where those are exactly the wrong tensors.
    penalised: tuple[int, ...] = ()

    def _at(self, layer: int) -> str:
        within = [f" → {found.text()}" for found in self.inner if found.block == layer]
        return f"layer {layer} ({self.kinds[layer]})" + "".join(within)

    def text(self, named: tuple[int, ...] = (), forward_wrong: bool = False, penalty: bool = False) -> str:
        """The span in words; ``named``: layers a diagnosed bug sits at (one inside the span pins
        it; with a wrong forward every gradient follows it, so one anywhere does); ``penalty``: the
        bug named is the penalty's, which every penalised layer shows, not the highest alone."""
        if penalty and len(self.penalised) > 1:
            layers = ", ".join(map(str, self.penalised[:-1])) + f" and {self.penalised[-1]}"
            return f"every penalised layer: layers {layers} ({', '.join(self.kinds[i] for i in self.penalised)})"
        inside = {layer for layer in named if forward_wrong or self.low <= layer <= self.high}
        if len(inside) == 1 and (layer := inside.pop()) < len(self.kinds):
            return f"the error enters at {self._at(layer)}"
        if self.low == self.high:
            where = f"the error enters at {self._at(self.low)}"
        else:
            where = (f"the error enters in the backward of one of layers {self.low}–{self.high} "
                     f"({', '.join(self.kinds[self.low:self.high + 1])})")
            where += "".join(f"; in {self._at(found.block)}" for found in self.inner)
        bounds = [f"layer {self.wrong}'s gradients are wrong" if self.wrong is not None
                  else "the input gradient is wrong"]
        bounds += [f"{found.wrong}'s are wrong" for found in self.inner if found.wrong]
        if self.right is not None:
            bounds.append(f"layer {self.right}'s right")
        bounds += [f"{found.right}'s right" for found in self.inner if found.right]
        loss = " (or the loss's gradient)" if self.loss else ""
        return where + loss + (f": {', '.join(bounds)}" if bounds else "")


def kinds(spec) -> tuple[str, ...]:
    """Every layer's kind: a sequence's layer kinds, an MLP's ``dense+activation``."""
    if isinstance(spec, SequenceSpec):
        return spec.kinds
    return tuple(f"dense+{layer.activation}" for layer in spec.layers)


def with_parameters(spec) -> tuple[int, ...]:
    """The layers that have parameters (every MLP layer has a weight)."""
    if isinstance(spec, SequenceSpec):
        return tuple(sorted({int(name.partition(".")[0]) for name in spec.param_shapes}))
    return tuple(range(len(spec.layers)))


def _inner_params(spec, block: int, tensors) -> dict[int, str]:
    """Inner layer → its first parameter named in ``tensors`` (``"{block}.inner.{j}.…"``)."""
    found: dict[int, str] = {}
    for name in tensors:
        parts = name.split(".")
        if len(parts) > 3 and parts[0] == str(block) and parts[1] == "inner" and parts[2].isdigit():
            found.setdefault(int(parts[2]), name)
    return found


def _inner_spans(spec, wrong: int | None, right: int | None, wrong_tensors) -> tuple[Inner, ...]:
    """The inner spans of the blocks bounding the span: ``wrong``'s from its highest inner layer with
    wrong gradients to the lowest right one above it (or its top), ``right``'s up to its lowest inner
    layer with parameters."""
    if not isinstance(spec, SequenceSpec):
        return ()
    found = []
    inner = getattr(spec.layers[wrong], "inner", None) if wrong is not None else None
    bad = _inner_params(spec, wrong, wrong_tensors) if inner else {}
    if bad:  # no wrong tensor named inside: no evidence to place it there
        kinds = tuple(layer.kind for layer in inner)
        low = max(bad)
        good = {j: name for j, name in _inner_params(spec, wrong, spec.param_shapes).items() if j > low}
        high = min(good) if good else len(inner) - 1
        found.append(Inner(wrong, low, high, kinds, bad.get(low), good.get(high)))
    if right is not None and right != wrong and (inner := getattr(spec.layers[right], "inner", None)):
        lowest = min(_inner_params(spec, right, spec.param_shapes))
        found.append(Inner(right, 0, lowest, tuple(layer.kind for layer in inner), None,
                           _inner_params(spec, right, spec.param_shapes)[lowest], skip=True))
    return tuple(found)


def span(spec, wrong_layers: list[int], input_wrong: bool, wrong_tensors=()) -> Span | None:
    """The span the error enters in, from the layers with wrong parameter gradients (and
    whether the input gradient is wrong; ``wrong_tensors``: the wrong tensors by name, which
    place it inside a residual block); None when no gradient is wrong."""
    if not wrong_layers and not input_wrong:
        return None
    every = kinds(spec)
    wrong = max(wrong_layers) if wrong_layers else None
    above = [layer for layer in with_parameters(spec) if layer > (-1 if wrong is None else wrong)]
    right = above[0] if above else None
    low = 0 if wrong is None else wrong
    high = len(every) - 1 if right is None else right
    inner = _inner_spans(spec, wrong, right, wrong_tensors)
    if inner and inner[0].block == wrong and inner[0].right is not None:
        high = wrong  # a right inner layer above the wrong one: the error entered inside the block
    penalised = spec.penalised() if isinstance(spec, SequenceSpec) and spec.l2 else ()
    exactly = penalised and set(penalised) == set(wrong_tensors) - {"output", "loss"}
    return Span(low, high, every, wrong, right, right is None and high == len(every) - 1 and spec.loss is not None,
                inner, tuple(sorted({int(name.partition(".")[0]) for name in penalised})) if exactly else ())
