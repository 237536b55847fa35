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
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.cases.layers import SequenceSpec


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

    def text(self, named: tuple[int, ...] = (), forward_wrong: bool = False) -> str:
        """The span in words; ``named``: layers a diagnosed bug sits at (one inside the span pins
        it; with a wrong forward every gradient follows it, so one anywhere does)."""
        inside = {layer for layer in named if forward_wrong or self.low <= layer <= self.high}
        if len(inside) == 1 and (layer := inside.pop()) < len(self.kinds):
            return f"the error enters at layer {layer} ({self.kinds[layer]})"
        if self.low == self.high:
            where = f"the error enters at layer {self.low} ({self.kinds[self.low]})"
        else:
            where = (f"the error enters in the backward of one of layers {self.low}–{self.high} "
                     f"({', '.join(self.kinds[self.low:self.high + 1])})")
        bounds = [f"layer {self.wrong}'s gradients are wrong" if self.wrong is not None
                  else "the input gradient is wrong"]
        if self.right is not None:
            bounds.append(f"layer {self.right}'s right")
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


def span(spec, wrong_layers: list[int], input_wrong: bool) -> Span | None:
    """The span the error enters in, from the layers with wrong parameter gradients (and
    whether the input gradient is wrong); None when no gradient is wrong."""
    if not wrong_layers and not input_wrong:
        return None
    every = kinds(spec)
    wrong = max(wrong_layers) if wrong_layers else None
    above = [layer for layer in with_parameters(spec) if layer > (-1 if wrong is None else wrong)]
    right = above[0] if above else None
    low = 0 if wrong is None else wrong
    high = len(every) - 1 if right is None else right
    return Span(low, high, every, wrong, right, right is None and spec.loss is not None)
