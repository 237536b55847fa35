"""Diagnosis of a failing case: where the error enters, and which bug explains them.

Localisation (``diagnosis.localise``): the span of layers the error enters in, between the
highest layer with wrong parameter gradients and the lowest right one above it, kinds
named; one layer where a named bug pins it. Every mismatching tensor is listed.

Explanation: every hypothesis of ``conformance.diagnosis.hypotheses`` (tried in the order
``diagnosis.candidates`` gives, a forward bug that leaves the output within the tolerance last)
predicts, through the PyTorch oracle, what an implementation with that one bug would return. A hypothesis explains
the case when its prediction agrees with every tensor the implementation returned (output,
loss, every gradient), to a few times the tolerance the comparison uses; tensors it leaves
unexplained may still be explained by a reshaping of that one tensor (a factor, not summed
over the batch or over the wrong axis, transposed, clipped to ±c, from the layer's output:
``diagnosis.intermediates``). The explanation with the fewest separate bugs wins (a what-if
network counts one, each kind of reshaping one), then the one reshaping fewest tensors, then
the one within the comparison's own tolerance (the closer first), then the
library's order. Nothing reproduces the observation: "unexplained". A returned dtype below
the case's is named too.

It runs in the harness's process, only for failing cases, on what the implementation
already returned: a few small float64 autograd evaluations. Longer than 300 lines: the
ranking of explanations (fitting, what-if trials, ties, words) is one algorithm, in short functions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from conformance.diagnosis import hypotheses as h
from conformance.diagnosis import candidates, intermediates, localise, stability
from conformance.diagnosis.findings import Finding
from conformance.judge.compare import TOLERANCES, Unusable, usable
from conformance.running.driver import Observation
from conformance.oracles.torch import Reference
from conformance.cases.layers import layer_of
from conformance.cases.spec import CaseData

#: Agreement with a hypothesis's prediction allows this multiple of the comparison's
#: tolerance: the prediction is exact, the implementation's rounding is not always
#: the intended network's (a bug changes which terms are summed).
SLACK = 4.0
#: An unnamed factor this close to ±1 is no scaling bug (none multiplies a gradient by 1.004).
NEAR_ONE = 0.01


@dataclass(frozen=True)
class Diagnosis:
    """Where the error starts, the tensors affected, and the bugs that explain it (none: unexplained)."""

    start_layer: int | None
    #: The output disagrees with PyTorch (a forward bug).
    forward_wrong: bool
    affected: tuple[str, ...]
    findings: tuple[Finding, ...]
    #: Other bugs at the same layers that reproduce the case exactly as well (its data cannot
    #: tell them from the one named first).
    alternatives: tuple[Finding, ...] = ()
    #: The loss value disagrees with PyTorch (with a right output: the loss alone is wrong).
    loss_wrong: bool = False
    span: localise.Span | None = None
    #: Returned tensors holding a NaN or an infinity (the comparison cannot call them agreeing).
    non_finite: tuple[str, ...] = ()

    explained = property(lambda self: bool(self.findings))

    def line(self) -> str:
        where = []
        if self.forward_wrong:
            where.append("the forward output is wrong")
        elif self.loss_wrong:
            where.append("the loss value is wrong (the output is right)")
        if self.span is not None:
            where.append(self.span.text(tuple(x for f in self.findings for x in f.layers),
                                        self.forward_wrong or any(f.forward for f in self.findings),
                                        any(f.kind == "l2_gradient" for f in self.findings)))
        if self.affected:
            where.append("wrong: " + ", ".join(self.affected))
        if self.non_finite:
            where.append("not finite: " + ", ".join(self.non_finite))
        located = "; ".join(where) or "every value agrees with PyTorch"
        if not self.findings:
            return f"unexplained: no bug hypothesis reproduces these results ({located})"
        named = "; ".join(f.text for f in self.findings)
        if self.alternatives:
            named += " — or, as this case's data cannot tell them apart, " + "; ".join(
                f.text for f in self.alternatives)
        return named + f" ({located})"

    def names(self) -> tuple[Finding, ...]:
        """Every bug the diagnosis names, alternatives included."""
        return self.findings + self.alternatives


# ---- agreement ------------------------------------------------------------------------------------

def _array(value: object) -> np.ndarray | None:
    """A returned tensor as float64, or None when it is not a finite numeric array."""
    try:
        shape = np.shape(value)
    except (TypeError, ValueError):  # ragged
        return None
    found = usable(value, shape)
    return None if isinstance(found, Unusable) else np.asarray(found, dtype=np.float64)


def _excess(seen: np.ndarray, due: np.ndarray, dtype: str) -> float:
    """The largest ``|seen - due|`` in units of the comparison's tolerance for ``dtype`` (same shapes)."""
    if due.size == 0:
        return 0.0
    return float(np.max(np.abs(seen - due) / TOLERANCES[dtype].allowed(np.abs(due))))


def agrees(seen: np.ndarray, due: np.ndarray, dtype: str, slack: float = SLACK) -> bool:
    """``seen`` equals ``due`` to the comparison's tolerance for ``dtype`` (times ``slack``)."""
    return seen.shape == due.shape and _excess(seen, due, dtype) <= slack


def observed_tensors(seen: Observation, data: CaseData) -> dict[str, np.ndarray]:
    """What the implementation returned, by tensor name, leaving out what is not a numeric answer."""
    named = {"output": seen.output}
    if data.case.spec.loss is not None:
        named["loss"] = seen.loss
    named |= seen.gradients.tensors()
    return {name: array for name, value in named.items() if (array := _array(value)) is not None}


# ---- reshapings -----------------------------------------------------------------------------------

def reshaping(tensor: str, seen: np.ndarray, due: np.ndarray, data: CaseData) -> h.Reshaping | None:
    """How ``seen`` is ``due`` changed on its way out, or None when no reshaping reproduces it."""
    dtype, batch = data.case.dtype, data.case.batch
    agree = functools.partial(agrees, dtype=dtype)
    if seen.shape == due.shape and tensor != "output":
        ratio = candidates.ratio(seen, due)
        if not np.any(seen) and np.any(due):
            return h.Reshaping("tensor_factor", h.Factor(0.0, "0"))
        if ratio is not None and ratio != 0 and agrees(seen, ratio * due, dtype):
            factor = h.factor_named(ratio, data)
            # Any number is some factor times another: fitted to a single value (the loss, a one-unit
            # bias), a factor explains nothing unless named; an unnamed one yields to a named mistake,
            # and one within NEAR_ONE of ±1 says only that the values are a little off.
            if factor.named or seen.size > 1 and abs(abs(ratio) - 1) > NEAR_ONE:
                named = None if factor.named else intermediates.reshaping(tensor, seen, due, data, agree)
                return named or h.Reshaping("tensor_factor", factor)
    if tensor.startswith(("weight", "bias")) and seen.shape == (batch,) + due.shape:
        if agrees(seen.sum(axis=0), due, dtype):
            return h.Reshaping("not_reduced_over_batch")
    if seen.ndim == 2 and seen.shape[::-1] == due.shape and agrees(seen.T, due, dtype):
        return h.Reshaping("transposed_gradient")
    return intermediates.reshaping(tensor, seen, due, data, agree)


@dataclass(frozen=True)
class Explanation:
    what_if: h.WhatIf | None
    reshaped: Mapping[str, h.Reshaping]
    #: The largest disagreement of an unreshaped tensor with the prediction, in units of the
    #: comparison's tolerance (above 1: reproduced only within the diagnosis's slack).
    excess: float = 0.0

    @property
    def key(self) -> tuple:
        """Fewest bugs, then fewest reshaped tensors, then a prediction within the comparison's
        own tolerance before one that needs the slack (the closer first)."""
        loose = self.excess > 1.0
        return (self.what_if is not None) + _kinds(self.reshaped), len(self.reshaped), loose, \
            self.excess if loose else 0.0

    @property
    def final(self) -> bool:
        """Nothing can beat it: one change reproduces every tensor within the comparison's tolerance."""
        return self.key == (1, 0, False, 0.0)


def _kinds(reshaped: Mapping[str, h.Reshaping]) -> int:
    """The separate bugs a set of reshapings counts: one per kind (and factor)."""
    return len({(r.kind, None if r.factor is None else r.factor.name) for r in reshaped.values()})


def explain(seen: Mapping[str, np.ndarray], due: Mapping[str, np.ndarray], what_if: h.WhatIf | None,
            data: CaseData, beat: tuple | None = None) -> Explanation | None:
    """The reshapings that make ``due`` (a prediction) reproduce ``seen``, or None; also None
    as soon as one more reshaping would make the explanation's (bugs, reshaped tensors) exceed
    ``beat``'s (the best key so far): its key could then only be larger, and it could be no
    tie (a tie reshapes nothing), so the search would drop it anyway. Searching reshapings of a
    what-if that cannot win was most of ``explain``'s time on a failing implementation."""
    reshaped, excess = {}, 0.0
    for tensor, array in seen.items():
        if tensor not in due:
            continue
        if agrees(array, due[tensor], data.case.dtype):
            excess = max(excess, _excess(array, due[tensor], data.case.dtype))
            continue
        least = (what_if is not None) + max(_kinds(reshaped), 1), len(reshaped) + 1
        if beat is not None and least > beat[:2]:
            return None
        found = reshaping(tensor, array, due[tensor], data)
        if found is None:
            return None
        reshaped[tensor] = found
    fitted = {r.factor.name for r in reshaped.values() if r.kind == "tensor_factor" and not r.factor.named}
    if fitted and (what_if is not None or _kinds(reshaped) > 1):
        return None  # a fitted number beside another change only papers over what that change leaves out
    return Explanation(what_if, reshaped, excess)


# ---- the search -----------------------------------------------------------------------------------

def diagnose(data: CaseData, seen: Observation, ref: Reference) -> Diagnosis:
    """Localise the mismatch between ``seen`` and the oracle's ``ref``, and name the bug that explains it."""
    due = h.predicted(ref, data)
    observed = {t: array for t, array in observed_tensors(seen, data).items() if t in due}
    wrong = [t for t in due if t in observed and not agrees(observed[t], due[t], data.case.dtype, slack=1.0)]
    layers = [layer for t in wrong if (layer := layer_of(t)) is not None]
    start = max(layers) if layers else None
    # A wrong loss with a right output is the loss's own bug: no change to the network's
    # forward can explain it (it would change the output too).
    forward_wrong = "output" in wrong
    affected = tuple(t for t in wrong if t not in ("output", "loss")) or tuple(wrong)
    best, alternatives = _best(data, ref, observed, due, start, forward_wrong, wrong)
    findings = (_stability_findings(data, seen, ref) + (_findings(best, observed, due) if best is not None else ())
                + _dtype_findings(seen, data))
    named_alternatives = tuple(f for other in alternatives for f in _findings(other, observed, due)[:1])
    return Diagnosis(start, forward_wrong, affected, findings, named_alternatives, loss_wrong="loss" in wrong,
                     span=localise.span(data.case.spec, layers, "input" in wrong, wrong),
                     non_finite=tuple(_non_finite(seen, data)))


def _non_finite(seen: Observation, data: CaseData) -> dict[str, np.ndarray]:
    """The returned numeric tensors that hold a NaN or an infinity, by name."""
    named = {"output": seen.output, "loss": seen.loss if data.case.spec.loss is not None else None}
    arrays = {n: stability.returned(v) for n, v in (named | seen.gradients.tensors()).items() if v is not None}
    return {n: a for n, a in arrays.items() if a is not None and not np.all(np.isfinite(a))}


def _stability_findings(data: CaseData, seen: Observation, ref: Reference) -> tuple[Finding, ...]:
    """The naive formulas (``diagnosis.stability``) that reproduce a broken output or loss."""
    stable = {"output": ref.output, "loss": np.asarray(np.nan if ref.loss is None else ref.loss)}
    broken = _non_finite(seen, data)
    evidence = stability.Evidence(any(np.isnan(a).any() for n, a in broken.items() if n not in ("output", "loss")),
                                  any("overflow" in w for w in seen.warnings))
    return tuple(Finding(k, text, at)
                 for k, at, text in stability.findings(data, seen.output, seen.loss, stable, evidence))


def _dtype_findings(seen: Observation, data: CaseData) -> tuple[Finding, ...]:
    """Tensors returned with an integer dtype or less precision than the case's."""
    due = np.dtype(data.case.dtype)
    named = {"output": seen.output, "loss": seen.loss} | seen.gradients.tensors()
    short = {name: np.asarray(value).dtype for name, value in named.items()
             if isinstance(value, np.ndarray) and (value.dtype.kind != "f" or value.dtype.itemsize < due.itemsize)}
    return tuple(Finding("wrong_dtype", f"{name} is returned as {dtype} where {due} is due", tensors=(name,))
                 for name, dtype in short.items())


def _best(data, ref, observed, due, start, forward_wrong, wrong) -> tuple[Explanation | None, list[Explanation]]:
    """The best explanation, and the what-ifs at its layers that reproduce the case exactly as
    well (searched on only once an exact one is found, and only at its layers: cheap)."""
    if not wrong:
        return None, []
    best, ties = explain(observed, due, None, data), []
    beyond_reshaping = [layer for t, array in observed.items() if (layer := layer_of(t)) is not None
                        and not agrees(array, due[t], data.case.dtype) and reshaping(t, array, due[t], data) is None]
    for what_if in candidates.what_ifs(data, ref, observed, due, start, forward_wrong,
                                       max(beyond_reshaping, default=-1)):
        if best is not None and best.final and what_if.layers != best.what_if.layers \
                and what_if.kind != best.what_if.kind:
            continue  # the same change at other layers may tie: where one layer's part is too small to see
        prediction = _prediction(what_if, data)
        if all(agrees(prediction[t], due[t], data.case.dtype, slack=1.0) for t in observed if t in due):
            continue  # this change makes no difference on this case's data: it explains nothing
        found = explain(observed, prediction, what_if, data, beat=None if best is None else best.key)
        if found is None:
            continue
        if best is not None and best.final and found.final:
            ties.append(found)
        elif best is None or found.key < best.key or found.final and best.what_if is None and not best.reshaped:
            best = found  # one change within the tolerance beats the intended network within the slack
    return best, ties


@functools.lru_cache(maxsize=1024)
def _cached_prediction(what_if: h.WhatIf, data: CaseData) -> Mapping[str, np.ndarray]:
    return what_if.predict(data)


def _prediction(what_if: h.WhatIf, data: CaseData) -> Mapping[str, np.ndarray]:
    """A what-if's prediction, remembered for the next implementation failing on the same case
    data; a fitted learning rate is not part of a what-if's identity, so those are not remembered."""
    if what_if.kind == "updated_weights_in_backward":
        return what_if.predict(data)
    return _cached_prediction(what_if, data)


def _findings(best: Explanation, observed, due) -> tuple[Finding, ...]:
    findings = []
    if best.what_if is not None:
        w = best.what_if
        findings.append(Finding(w.kind, w.text, w.layers, (), None if w.factor is None else w.factor.value, w.variant,
                                forward=w.reach is None))
    groups: dict[tuple, list[str]] = {}
    for tensor, r in best.reshaped.items():
        groups.setdefault((r.kind, None if r.factor is None else r.factor.name), []).append(tensor)
    for tensors in groups.values():
        r = best.reshaped[tensors[0]]
        text = r.describe(tensors, [observed[t].shape for t in tensors], [due[t].shape for t in tensors])
        layers = tuple(sorted({layer for t in tensors if (layer := layer_of(t)) is not None}))
        findings.append(Finding(r.kind, text, layers, tuple(tensors), None if r.factor is None else r.factor.value))
    return tuple(findings)
