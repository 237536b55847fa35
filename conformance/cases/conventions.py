"""Conventions: the constants and reductions on which correct implementations legitimately differ.

PyTorch's meaning of a case is one choice among several in common use: normalisation eps
(batch norm, layer norm), a loss's reduction over the outputs and over the batch (for every
loss, or per loss), the L2 penalty's scale (and whether it is divided by the batch size), a
small constant added inside (or a clip around) the log of a cross-entropy, whether a padded
average pool counts the padding (PyTorch's ``count_include_pad``). An adapter
declares the ones its implementation follows
(``Capabilities(conventions=Conventions(layernorm_eps=1e-8))``) and the oracle follows the
declaration; where nothing is declared and the forward differs, the diagnosis tries the
common ones (``COMMON``) and names the one that reproduces the implementation's forward.

``Conventions()`` is PyTorch's: what every case means unless declared otherwise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace

REDUCTIONS = ("sum", "mean")

#: Every field and what it declares (the adapter documentation says the same).
FIELD_DOCS = {
    "batchnorm_eps": "eps added to the batch variance in batch norm (PyTorch: 1e-5)",
    "layernorm_eps": "eps added to the variance in layer norm (PyTorch: 1e-5)",
    "output_reduction": "how every loss reduces over a sample's outputs: 'sum' or 'mean' (None: as the loss's "
                        "name says: sse, half_sse and hinge sum, mse, half_mse and binary_cross_entropy average)",
    "batch_reduction": "how every loss reduces over the batch: 'sum' or 'mean' (None: as the loss's name says: "
                       "sse and half_sse sum, the others average)",
    "loss_reductions": "how one loss reduces, per loss: {'mse': ('sum', 'mean')} sums mse over a sample's outputs "
                       "and averages it over the batch (a loss named here is not reduced as output_reduction "
                       "and batch_reduction say; None in a pair: as the loss's name says)",
    "l2_scale": "the penalty is l2_scale·λ·Σ‖W‖² (PyTorch's weight decay, as the suite means it: 0.5)",
    "l2_per_batch": "the penalty is divided by the batch size too: l2_scale·λ/batch·Σ‖W‖² (with l2_scale 0.5, "
                    "λ/2m·Σ‖W‖², the convention of Andrew Ng's course)",
    "log_eps": "the cross-entropies take log(p + log_eps) (PyTorch: 0, a log-sum-exp)",
    "log_clip": "the cross-entropies clip p to [log_clip, 1 − log_clip] before the log (PyTorch: 0, no clip)",
    "avgpool_count_include_pad": "a padded average pool divides every window by k², padding included (PyTorch's "
                                 "count_include_pad=True); False: by the window's elements inside the input",
}

#: A loss's own reductions over the outputs and over the batch (what its name says).
OWN_REDUCTIONS = {
    "sse": ("sum", "sum"), "half_sse": ("sum", "sum"), "mse": ("mean", "mean"), "half_mse": ("mean", "mean"),
    "softmax_cross_entropy": ("sum", "mean"), "binary_cross_entropy": ("mean", "mean"), "hinge": ("sum", "mean"),
}


@dataclass(frozen=True)
class Conventions:
    """The conventions a case is judged under; the defaults are PyTorch's (see ``FIELD_DOCS``)."""

    batchnorm_eps: float = 1e-5
    layernorm_eps: float = 1e-5
    output_reduction: str | None = None
    batch_reduction: str | None = None
    #: Per loss, (loss, over the outputs, over the batch), sorted; given as a dict {loss: (outputs, batch)}.
    loss_reductions: tuple[tuple[str, str, str], ...] = ()
    l2_scale: float = 0.5
    l2_per_batch: bool = False
    log_eps: float = 0.0
    log_clip: float = 0.0
    avgpool_count_include_pad: bool = True

    def __post_init__(self) -> None:
        for name in ("batchnorm_eps", "layernorm_eps", "l2_scale", "log_eps", "log_clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0 <= value < (10.0 if name == "l2_scale" else 0.5):
                raise ValueError(f"Conventions.{name} must be a number in [0, {10 if name == 'l2_scale' else 0.5}), "
                                 f"got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("output_reduction", "batch_reduction"):
            if getattr(self, name) not in (None, *REDUCTIONS):
                raise ValueError(f"Conventions.{name} must be None, 'sum' or 'mean', got {getattr(self, name)!r}")
        for name in ("l2_per_batch", "avgpool_count_include_pad"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Conventions.{name} must be True or False, got {getattr(self, name)!r}")
        object.__setattr__(self, "loss_reductions", per_loss(self.loss_reductions))

    def reductions(self, loss: str) -> tuple[str, str]:
        """How ``loss`` reduces over the outputs and over the batch under these conventions: as
        declared for it, else as declared for every loss, else as its name says."""
        for name, outputs, batch in self.loss_reductions:
            if name == loss:
                return outputs, batch
        own_outputs, own_batch = OWN_REDUCTIONS[loss]
        return self.output_reduction or own_outputs, self.batch_reduction or own_batch

    def reducing(self, loss: str, outputs: str, batch: str) -> Conventions:
        """These conventions with ``loss`` (only it) reduced so."""
        others = {name: (o, b) for name, o, b in self.loss_reductions if name != loss}
        return replace(self, loss_reductions=others | {loss: (outputs, batch)})

    def l2_factor(self, batch: int) -> float:
        """What multiplies λ·Σ‖W‖² for a batch of ``batch`` samples."""
        return self.l2_scale / batch if self.l2_per_batch else self.l2_scale

    def differences(self, spec=None) -> list[str]:
        """Each way these conventions differ from PyTorch's, in words (empty for PyTorch's); for a
        case's ``spec`` (a network spec), only the ways that matter to it."""
        uses = USED_BY_ALL if spec is None else used_by(spec)
        loss = getattr(spec, "loss", None)
        words = [f"{what} {number(getattr(self, name))}"
                 for name, what in (("batchnorm_eps", "batch-norm eps"), ("layernorm_eps", "layer-norm eps"))
                 if name.split("_")[0] in uses and getattr(self, name) != getattr(PYTORCH, name)]
        if loss is not None and self.reductions(loss) != OWN_REDUCTIONS[loss]:
            outputs, batch = self.reductions(loss)
            words.append(f"{loss} {_verb(outputs)} over the outputs and {_verb(batch)} over the batch")
        elif spec is None:
            words += [f"losses {_verb(getattr(self, name))} over the {what}"
                      for name, what in (("output_reduction", "outputs"), ("batch_reduction", "batch"))
                      if getattr(self, name) is not None]
            words += [f"{name} {_verb(outputs)} over the outputs and {_verb(batch)} over the batch"
                      for name, outputs, batch in self.loss_reductions]
        if "l2" in uses and (self.l2_scale != PYTORCH.l2_scale or self.l2_per_batch):
            words.append(f"L2 penalty {number(self.l2_scale)}·λ{'/batch' * self.l2_per_batch}·Σ‖W‖²")
        if "log" in uses and self.log_eps:
            words.append(f"log(p + {number(self.log_eps)}) in the cross-entropy")
        if "log" in uses and self.log_clip:
            clip = number(self.log_clip)
            words.append(f"p clipped to [{clip}, 1 − {clip}] in the cross-entropy's log")
        if "avgpool" in uses and not self.avgpool_count_include_pad:
            words.append("padded average pools dividing by the window's elements inside the input "
                         "(count_include_pad=False)")
        return words

    def words(self, spec=None) -> str:
        return "; ".join(self.differences(spec)) or "PyTorch's"

    def declaration(self) -> str:
        """How an adapter declares these conventions (the fields that differ from PyTorch's)."""
        def shown(value):
            if isinstance(value, tuple):
                return "{" + ", ".join(f"{name!r}: ({o!r}, {b!r})" for name, o, b in value) + "}"
            return number(value) if isinstance(value, float) else repr(value)
        changed = [f"{f.name}={shown(getattr(self, f.name))}" for f in fields(self)
                   if getattr(self, f.name) != getattr(PYTORCH, f.name)]
        return f"Conventions({', '.join(changed)})"


#: What a network can use that conventions change (``used_by``).
USED_BY_ALL = frozenset({"batchnorm", "layernorm", "loss", "l2", "log", "avgpool"})
#: The losses that take a log of a probability (where ``log_eps`` and ``log_clip`` apply).
LOG_LOSSES = frozenset({"softmax_cross_entropy", "binary_cross_entropy"})


def per_loss(declared) -> tuple[tuple[str, str, str], ...]:
    """``loss_reductions`` as declared (a dict {loss: (outputs, batch)}, or the triples it is kept
    as) checked and kept as sorted (loss, outputs, batch) triples, None resolved to the loss's own."""
    if isinstance(declared, dict):
        entries = list(declared.items())
    elif isinstance(declared, (tuple, list)) and all(isinstance(e, (tuple, list)) and len(e) == 3 for e in declared):
        entries = [(e[0], tuple(e[1:])) for e in declared]
    else:
        raise ValueError("Conventions.loss_reductions must be a dict of losses to (over the outputs, over the "
                         f"batch), e.g. {{'mse': ('sum', 'mean')}}, got {declared!r}")
    kept: dict[str, tuple[str, str]] = {}
    for name, pair in entries:
        if not (isinstance(name, str) and name in OWN_REDUCTIONS):
            raise ValueError(f"Conventions.loss_reductions: unknown loss {name!r} (the losses: "
                             f"{', '.join(OWN_REDUCTIONS)})")
        if name in kept:
            raise ValueError(f"Conventions.loss_reductions: {name!r} is given twice")
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(r is None or isinstance(r, str) and r in REDUCTIONS for r in pair)):
            raise ValueError(f"Conventions.loss_reductions[{name!r}] must be a pair (over the outputs, over the "
                             f"batch) of 'sum', 'mean' or None, got {pair!r}")
        kept[name] = (pair[0] or OWN_REDUCTIONS[name][0], pair[1] or OWN_REDUCTIONS[name][1])
    return tuple((name, *kept[name]) for name in sorted(kept))


def used_by(spec) -> frozenset[str]:
    """What of ``USED_BY_ALL`` a network spec (an MLP's or a layer sequence's) uses."""
    found = {kind for kind in getattr(spec, "kinds", ()) if kind in ("batchnorm", "layernorm")}
    if any(getattr(layer, "kind", "") == "avgpool2d" and layer.padding for layer in spec.layers):
        found.add("avgpool")
    if spec.loss is not None:
        found.add("loss")
        found |= {"log"} if spec.loss in LOG_LOSSES else set()
    if getattr(spec, "l2", 0.0):
        found.add("l2")
    return frozenset(found)


def number(value: float) -> str:
    """A constant as people write it: 1e-8, 0.001, 0.5."""
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{'-' if m[1] == '-' else ''}{m[2]}", f"{value:g}")


def _verb(reduction: str) -> str:
    return "summed" if reduction == "sum" else "averaged"


PYTORCH = Conventions()

#: The values the diagnosis tries where nothing is declared and the forward differs.
COMMON_EPS = (0.0, 1e-8, 1e-6, 1e-5, 1e-3)
COMMON_L2_SCALES = (1.0, 0.5, 0.25)
#: Whether the penalty is also divided by the batch size (``l2_per_batch``), as the diagnosis tries it.
COMMON_L2_PER_BATCH = (False, True)
COMMON_LOG_EPS = (1e-7, 1e-8, 1e-12)


def common(declared: Conventions, spec) -> list[Conventions]:
    """The conventions worth trying for a network spec: each common choice of one convention
    the network uses (both reductions count as one), the others as declared; none that means
    for it what the declared ones mean."""
    uses = used_by(spec)
    tries: list[Conventions] = []
    if "batchnorm" in uses:
        tries += [replace(declared, batchnorm_eps=eps) for eps in COMMON_EPS]
    if "layernorm" in uses:
        tries += [replace(declared, layernorm_eps=eps) for eps in COMMON_EPS]
    if "loss" in uses:
        own = declared.reductions(spec.loss)
        pairs = sorted(((o, b) for o in REDUCTIONS for b in REDUCTIONS),  # one change before both
                       key=lambda p: (p[0] != own[0]) + (p[1] != own[1]))
        tries += [declared.reducing(spec.loss, o, b) for o, b in pairs]
    if "l2" in uses:
        tries += [replace(declared, l2_scale=s, l2_per_batch=b) for b in COMMON_L2_PER_BATCH for s in COMMON_L2_SCALES]
    if "log" in uses:
        tries += [replace(declared, log_eps=e, log_clip=0.0) for e in COMMON_LOG_EPS]
        tries += [replace(declared, log_clip=c, log_eps=0.0) for c in COMMON_LOG_EPS]
    if "avgpool" in uses:
        tries.append(replace(declared, avgpool_count_include_pad=not declared.avgpool_count_include_pad))
    meant = declared.words(spec)
    return [c for c in dict.fromkeys(tries) if c.words(spec) != meant]
