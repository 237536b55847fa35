"""State between calls: one built model, called again, must answer as a fresh one does.

The harness builds a fresh model for every case, so a model that keeps state
from one call to the next would go unseen: gradients added to stored ones and
never zeroed (layer classes that ``+=`` into ``self.dW``, the default of
several libraries), or a cache kept from an earlier forward. After the
determinism run, the same model is called three more times:

1. the same input again: an accumulating model returns 2× the first gradients;
2. the batch in reverse order (and the upstream gradient or targets with it): the
   weight and bias gradients are a sum over the batch and must not change, the
   output and input gradient are the first run's rows reversed; a backward
   that uses a cache from the earlier forward does not match (at batch 1, where
   reversing changes nothing, the input negated instead, and not judged);
3. the first input again: the first run's answer.

A disagreement is worded by what it matches: "stale state" only when the answer is an
earlier call's; an output that does not follow its sample when the batch is reversed
depends on the sample's position in the batch; a right output with wrong gradients is a
backward that does not follow the latest forward.

Every comparison allows the rounding of a different summation order
(``conformance.judge.rounding``); only the first call that disagrees is reported, each
wrong tensor with its worst element.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from conformance.cases.spec import CaseData

Arrays = dict[str, object]
Violations = tuple[tuple[str, str], ...]


def reversed_batch(data: CaseData) -> CaseData:
    """The case's data with the batch in reverse order (upstream gradient and targets too)."""
    def flip(a):
        return np.ascontiguousarray(a[::-1])
    return replace(data.copy(), x=flip(data.x), upstream=flip(data.upstream), targets=flip(data.targets))


def negated_input(data: CaseData) -> CaseData:
    """The case's data with the input negated (an embedding's tokens reversed, still valid
    indices): another input, for a batch of one."""
    other = np.ascontiguousarray(data.x[..., ::-1]) if data.case.spec.integer_input else -data.x
    return replace(data.copy(), x=other)


def _reversed_rows(arrays: Arrays) -> Arrays:
    """What a correct model returns for the reversed batch: rows of the per-sample tensors reversed."""
    return {name: (value[::-1] if name in ("output", "input") and isinstance(value, np.ndarray) and value.ndim
                   else value) for name, value in arrays.items()}


def _scaled(arrays: Arrays, factor: float) -> Arrays:
    return {name: (None if value is None else np.asarray(value, dtype=np.float64) * factor)
            for name, value in arrays.items()}


def _mismatches(due: Arrays, got: Arrays, compare, rows_reversed: bool = False) -> list[tuple[str, object]]:
    """(tensor, difference) for every tensor of ``got`` beyond rounding of ``due``."""
    found = []
    for name, value in due.items():
        d = compare(name, value, got.get(name), rows_reversed)
        if d is not None and (isinstance(d, str) or not d.within_rounding):
            found.append((name, d))
    return found


def _gradient_names(arrays: Arrays) -> set[str]:
    return {name for name in arrays if name not in ("output", "loss")}


def _accumulates(first: Arrays, again: Arrays, compare, wrong: list[tuple[str, object]]) -> bool:
    """Every wrong tensor of the second call is a gradient, and 2× the first one."""
    doubled = _scaled({name: first[name] for name, _ in wrong}, 2.0)
    return (all(name in _gradient_names(first) for name, _ in wrong)
            and not _mismatches(doubled, again, compare))


def _describe(d: object) -> str:
    if isinstance(d, str):
        return d
    return (f"{d.where()}: got {d.second:.8g} where {d.first:.8g} is due (|difference| {d.size:.3g} exceeds "
            f"tolerance {d.bound:.3g}, the rounding of another summation order)")


def violations(first: Arrays, call: Callable[[CaseData], Arrays], data: CaseData, compare) -> Violations:
    """Call the already used model three more times (``call`` runs one forward and backward or
    loss on it) and say what went wrong at the first call that disagrees with ``first``."""
    again = call(data.copy())
    if wrong := _mismatches(first, again, compare):
        if _accumulates(first, again, compare, wrong):
            return tuple((name, f"{name}: gradients accumulate between calls: a second backward on one model, "
                                f"same input, returned 2× the first (added to the stored gradients and never "
                                f"zeroed): {_describe(d)}") for name, d in wrong)
        return tuple((name, f"{name}: state kept between calls: a second forward and backward on one model, same "
                            f"input, disagrees with the first (weights changed in place, or a cache never "
                            f"refreshed?): {_describe(d)}") for name, d in wrong)
    if data.case.batch == 1 or getattr(data.params, "buffers", None):
        # A dropout keep-mask given at build time belongs to sample positions: reversed, the
        # batch meets another mask, so only a negated input is fed (and not judged).
        between = call(negated_input(data))
    else:
        between = call(reversed_batch(data))
        if wrong := _mismatches(_reversed_rows(first), between, compare, rows_reversed=True):
            return _after_another_input(first, between, compare, wrong)
    back = call(data.copy())
    wrong = _mismatches(first, back, compare)
    if wrong and _matches_earlier(between, back, compare, wrong):
        return tuple((name, f"{name}: stale state: the first input again, after another one, gets the answer "
                            f"to that other input (a cache from an earlier forward): {_describe(d)}")
                     for name, d in wrong)
    return tuple((name, f"{name}: state kept between calls: the first input again, after another one, disagrees "
                        f"with the first call's answer: {_describe(d)}") for name, d in wrong)


def _matches_earlier(earlier: Arrays, got: Arrays, compare, wrong: list[tuple[str, object]]) -> bool:
    """Every wrong tensor of ``got`` is, within rounding, the earlier call's answer."""
    return not _mismatches({name: earlier.get(name) for name, _ in wrong}, got, compare)


def _after_another_input(first: Arrays, reordered: Arrays, compare, wrong: list[tuple[str, object]]) -> Violations:
    """Name what the evidence shows when the reversed batch is answered wrong: the answer to the
    earlier input (stale state), an output that moves with its position in the batch, or a
    right output with a backward that does not follow it."""
    if _matches_earlier(first, reordered, compare, wrong):
        why = ("stale state: after a forward on another input (the batch reversed) the model gives the earlier "
               "input's answer (a cache from an earlier forward)")
    elif any(name == "output" for name, _ in wrong):
        why = ("a sample's output depends on its position in the batch: with the batch reversed, the outputs are "
               "not the first call's rows reversed (something broadcast along the batch axis?)")
    else:
        why = ("the backward does not follow the latest forward: with the batch reversed the output is right but "
               "the gradients disagree (a backward computed from an earlier forward's cache?)")
    return tuple((name, f"{name}: {why}: {_describe(d)}") for name, d in wrong)
