"""Numerical stability: the classic formulas that are right on order-one values and break on
large ones, each named when it reproduces what the implementation returned.

Softmax without subtracting the max (``exp`` overflows: NaN), ``log(softmax(z))`` (−inf where a
probability underflows to 0), a cross-entropy's unclipped ``log(p)``, a binary cross-entropy
written with ``log(sigmoid)`` and ``log(1 − sigmoid)``, tanh through exponentials, the
logistic as ``exp(z)/(1 + exp(z))``. Each is evaluated here with NumPy *in the case's dtype*
on the values that enter the output layer (or the loss), as the implementation would have;
it explains the case when its answer has the same NaNs and infinities at the same elements
as what was returned, its finite elements agree to the comparison's tolerance (a few times),
and it differs from the stable answer (on data where it is harmless it explains nothing).
The milder formula of a head is tried first: where exp does not overflow, softmax without
its max and an unclipped log of a probability give the same −∞, and the data shows only the log.
Where exp does overflow on the case's values and the implementation shows it (a NaN in a
returned gradient, which an unclipped log cannot give, or an ``overflow`` warning), the
formulas whose exp overflows are tried first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from conformance.cases.layers import SequenceSpec
from conformance.cases.mlp_data import preactivations
from conformance.cases.spec import CaseData
from conformance.judge.compare import TOLERANCES

#: Where ``exp`` overflows, by dtype (the log of the largest finite number).
EXP_OVERFLOW = {"float32": 88.72, "float64": 709.78}
#: Agreement of finite elements allows this multiple of the comparison's tolerance.
SLACK = 4.0


@dataclass(frozen=True)
class Formula:
    """A naive formula for one head (an output activation or a loss): its finding kind, what
    it computes from the values entering the head (and the targets), and the words."""

    kind: str
    head: str
    compute: Callable[[np.ndarray, np.ndarray], np.ndarray]
    text: str
    #: The argument of the formula's exp that overflows (None: a formula that does not overflow).
    exp_of: Callable[[np.ndarray], np.ndarray] | None = None

    def overflows(self, entering: np.ndarray) -> bool:
        """Whether this formula's exp overflows on ``entering`` (in its dtype)."""
        if self.exp_of is None:
            return False
        with np.errstate(all="ignore"):
            return bool(np.isinf(np.exp(self.exp_of(entering))).any())


@dataclass(frozen=True)
class Evidence:
    """What the implementation showed beside a head's value: a NaN in a returned gradient, an
    ``overflow`` warning."""

    nan_gradient: bool = False
    overflow_warned: bool = False

    @property
    def overflowed(self) -> bool:
        return self.nan_gradient or self.overflow_warned


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _naive_softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _stable_sigmoid(z):
    """1/(1 + e⁻ᶻ) for z ≥ 0 and eᶻ/(1 + eᶻ) below: accurate down to the smallest numbers."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype)


def _label_mean(p, labels):
    """−mean over the batch of log p[label]."""
    return -np.mean(np.log(p[np.arange(len(p)), np.asarray(labels, dtype=np.int64)]))


def _bce(s, t):
    t = t.astype(s.dtype)
    return -np.mean(t * np.log(s) + (1 - t) * np.log(1 - s))


FORMULAS = (
    Formula("softmax_without_max", "softmax", lambda z, t: _naive_softmax(z),
            "softmax computed as exp(z)/Σexp(z) without subtracting the row's max: exp overflows for "
            "z ≥ {limit} in {dtype} (NaN where it does)", exp_of=lambda z: z),
    Formula("log_of_softmax", "log_softmax", lambda z, t: np.log(_softmax(z)),
            "log-softmax computed as log(softmax(z)): a probability that underflows to 0 in {dtype} gives −inf; "
            "z − max − log Σexp(z − max) is due"),
    Formula("log_softmax_naive", "log_softmax", lambda z, t: np.log(_naive_softmax(z)),
            "log-softmax computed as log(exp(z)/Σexp(z)): exp overflows for z ≥ {limit} in {dtype} (NaN), "
            "and a probability that underflows to 0 gives −inf; z − max − log Σexp(z − max) is due",
            exp_of=lambda z: z),
    Formula("tanh_through_exponentials", "tanh", lambda z, t: (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)),
            "tanh computed as (eᶻ − e⁻ᶻ)/(eᶻ + e⁻ᶻ): exp overflows for |z| ≥ {limit} in {dtype} (∞/∞ = NaN)",
            exp_of=np.abs),
    Formula("sigmoid_as_exp_ratio", "sigmoid", lambda z, t: np.exp(z) / (1 + np.exp(z)),
            "sigmoid computed as eᶻ/(1 + eᶻ): exp overflows for z ≥ {limit} in {dtype} (∞/∞ = NaN); "
            "1/(1 + e⁻ᶻ) for z ≥ 0 and eᶻ/(1 + eᶻ) below is due", exp_of=lambda z: z),
    Formula("cross_entropy_unclipped_log", "softmax_cross_entropy", lambda z, t: _label_mean(_softmax(z), t),
            "the cross-entropy takes log(p) of a probability that underflows to 0 in {dtype} (an unclipped "
            "log(p): the loss is ∞; softmax without its max gives the same where exp does not overflow); "
            "−z[label] + max + log Σexp(z − max) is due"),
    Formula("cross_entropy_naive_softmax", "softmax_cross_entropy",
            lambda z, t: _label_mean(_naive_softmax(z), t),
            "the cross-entropy takes softmax without subtracting the max: exp overflows for logits ≥ {limit} "
            "in {dtype} (NaN, or ∞ where the label's probability is 0 beside it; the gradient NaN); logsumexp "
            "with the max subtracted is due", exp_of=lambda z: z),
    Formula("bce_naive", "binary_cross_entropy", lambda z, t: _bce(_stable_sigmoid(z), t),
            "the binary cross-entropy is −t·log σ(z) − (1 − t)·log(1 − σ(z)): σ(z) rounds to 1 in {dtype} for "
            "z beyond about {bce_limit}, and log(0) is −∞; max(z, 0) − t·z + log(1 + e^−|z|) is due"),
    Formula("bce_naive_sigmoid", "binary_cross_entropy",
            lambda z, t: _bce((1 / (1 + np.exp(-z))).astype(z.dtype), t),
            "the binary cross-entropy is −t·log σ(z) − (1 − t)·log(1 − σ(z)) with σ = 1/(1 + e⁻ᶻ): σ rounds "
            "to 0 or 1 in {dtype} for |z| beyond about {bce_limit}, and log(0) is −∞; max(z, 0) − t·z + "
            "log(1 + e^−|z|) is due"),
)
#: Where σ(z) rounds to 1, by dtype: 1 − σ(z) ≈ e^−z falls below half an ulp of 1.
BCE_LIMIT = {"float32": 17, "float64": 37}


@dataclass(frozen=True)
class Head:
    """The part of the network a naive formula replaces: its name (an activation or a loss),
    the tensor it shows in, the layer (None: the loss), and the values entering it."""

    name: str
    tensor: str
    layer: int | None
    entering: np.ndarray


def heads(data: CaseData, output: np.ndarray | None) -> list[Head]:
    """The output activation (the values entering it) and the loss (the network's output)."""
    spec, dtype, found = data.case.spec, np.dtype(data.case.dtype), []
    last = spec.depth - 1
    if isinstance(spec, SequenceSpec):
        if spec.layers[-1].kind in ("softmax", "log_softmax", "sigmoid", "tanh"):
            found.append(Head(spec.layers[-1].kind, "output", last, _entering_last(data).astype(dtype)))
    elif spec.output_activation in ("sigmoid", "tanh"):
        z = preactivations(spec, data.params, data.x)[-1]
        found.append(Head(spec.output_activation, "output", last, z.astype(dtype)))
    if spec.loss is not None and output is not None:
        found.append(Head(spec.loss, "loss", None, output.astype(dtype)))
    return found


def _entering_last(data: CaseData) -> np.ndarray:
    import torch

    from conformance.cases import torch_layers

    spec = data.case.spec
    tensors = {k: torch.as_tensor(np.asarray(v, dtype=np.float64))
               for k, v in (data.params.tensors | data.params.buffers).items()}
    with torch.no_grad():
        a = torch.as_tensor(np.asarray(data.x, dtype=np.float64))
        for i, layer in enumerate(spec.layers[:-1]):
            a = torch_layers.apply_layer(layer, a, torch_layers.layer_params(tensors, i))
    return a.numpy()


def _same_faults(seen: np.ndarray, due: np.ndarray, dtype: str) -> bool:
    """NaNs and infinities (with their signs) at the same elements, finite ones agreeing."""
    if seen.shape != due.shape:
        return False
    if not (np.array_equal(np.isnan(seen), np.isnan(due)) and np.array_equal(np.isposinf(seen), np.isposinf(due))
            and np.array_equal(np.isneginf(seen), np.isneginf(due))):
        return False
    finite = np.isfinite(due)
    if not finite.any():
        return True
    allowed = TOLERANCES[dtype].allowed(np.abs(due[finite]))
    return bool(np.all(np.abs(seen[finite] - due[finite]) <= SLACK * allowed))


def returned(value: object) -> np.ndarray | None:
    """A returned value as float64 (NaNs and infinities kept), or None when it is not numeric."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _tried(head: Head, evidence: Evidence) -> list[Formula]:
    """The head's formulas in the order they are tried: the library's (the milder first), those
    whose exp overflows here first when the implementation showed an overflow."""
    own = [f for f in FORMULAS if f.head == head.name]
    if not evidence.overflowed:
        return own
    return sorted(own, key=lambda f: not f.overflows(head.entering))


def findings(data: CaseData, seen_output: object, seen_loss: object, stable: dict[str, np.ndarray],
             evidence: Evidence = Evidence()):
    """(kind, layers, text) for each naive formula that reproduces a non-finite or wrong output
    or loss; ``stable`` holds PyTorch's output and loss."""
    dtype = data.case.dtype
    answers = {"output": returned(seen_output), "loss": returned(seen_loss)}
    output = answers["output"]
    entering_loss = output if output is not None and np.all(np.isfinite(output)) else stable["output"]
    found = []
    for head in heads(data, entering_loss):
        seen, due = answers[head.tensor], np.asarray(stable[head.tensor], dtype=np.float64)
        if seen is None or _same_faults(seen, due, dtype):
            continue  # nothing wrong with this head
        for formula in _tried(head, evidence):
            with np.errstate(all="ignore"):
                naive = np.asarray(formula.compute(head.entering, data.targets), dtype=np.float64)
            if not _same_faults(naive, due, dtype) and _same_faults(seen, naive, dtype):
                text = formula.text.format(limit=EXP_OVERFLOW[dtype], dtype=dtype, bce_limit=BCE_LIMIT[dtype])
                largest = float(np.max(np.abs(head.entering)))
                found.append((formula.kind, () if head.layer is None else (head.layer,),
                              f"{text} (here |z| reaches {largest:.4g})"))
                break
    return found
