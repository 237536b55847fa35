"""Required coverage (``--require``): what a target must run, so that declaring
capabilities away cannot pass for conforming.

A requirement is a comma-separated list of terms, each naming a kind of case:

=====================  ==========================================================
``bias`` ``nobias``    networks with biases / without
``relu`` ``tanh`` …    the hidden layers' activation
``out=identity`` …     the output layer's activation
``float32`` ``float64``  the dtype
``vjp`` ``mse`` …      backward from an upstream gradient, or that loss (any of
                       the seven, ``binary_cross_entropy`` and ``hinge`` included)
``l2`` ``nol2``        a loss with an L2 penalty / without
``layernorm`` …        a layer-sequence network with a layer of that kind (each
                       kind named is required on its own, not as an alternative)
``depth>=3`` …         the depth (``=``, ``>=``, ``<=``), likewise ``batch``
``input_gradient``     the gradient with respect to the input is computed
=====================  ==========================================================

For every combination of the values named (terms of one kind are
alternatives: ``relu,tanh,bias,float64,depth>=3`` names 2 activations × 2
depths of the grid with biases in float64), at least one case of that kind
must run; dimensions not named are free. A target that runs none of some
combination gets a ``coverage`` row per missing combination (verdict
``fail``, which the target's verdict shows as ``incomplete``), with the reason
the target gave for not running it. When grading, a range asks only for the
values of the cases the assignment takes (``Requirement.combinations``'s
``within``): the instructor's side decides those, never a submission.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Callable, Collection, Sequence

from conformance.judge.results import ResultRow, row
from conformance.cases.graph_layers import kinds_within
from conformance.cases.layers import LAYER_KINDS, SEQUENCE_LOSSES, SequenceSpec
from conformance.cases.spec import ACTIVATIONS, Case, DTYPES

_COMPARISON = re.compile(r"(depth|batch)(>=|<=|=)(\d+)")
_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "=": lambda a, b: a == b}


class RequirementError(ValueError):
    """A requirement that cannot be read; the message lists the valid terms."""


def _dimensions(case: Case) -> dict[str, object]:
    spec = case.spec
    kinds = set(kinds_within(spec)) if isinstance(spec, SequenceSpec) else set()
    return {"bias": spec.bias, "activation": spec.hidden_activation, "output": spec.output_activation,
            "dtype": case.dtype, "mode": case.mode, "depth": spec.depth, "batch": case.batch,
            "l2": bool(getattr(spec, "l2", 0.0)), **{f"layer {kind}": kind in kinds for kind in LAYER_KINDS}}


VALID_TERMS = ("bias, nobias, " + ", ".join(ACTIVATIONS) + ", out=" + "|".join(ACTIVATIONS) + ", "
               + ", ".join(DTYPES) + ", vjp, " + ", ".join(SEQUENCE_LOSSES) + ", l2, nol2, "
               + ", ".join(k for k in LAYER_KINDS if k not in ACTIVATIONS) + ", depth>=N, depth<=N, depth=N, "
               "batch>=N, batch<=N, batch=N, input_gradient")


@dataclass(frozen=True)
class Requirement:
    """Allowed values per named dimension (``values``), number predicates, and whether the
    input gradient is required. ``text`` is how the user wrote it."""

    text: str
    values: tuple[tuple[str, frozenset], ...] = ()
    ranges: tuple[tuple[str, str, int], ...] = ()
    input_gradient: bool = False

    @classmethod
    def parse(cls, text: str) -> Requirement:
        values: dict[str, set] = {}
        ranges, input_gradient = [], False
        for term in (t.strip() for t in text.split(",")):
            if not term:
                continue
            if match := _COMPARISON.fullmatch(term.replace(" ", "")):
                ranges.append((match[1], match[2], int(match[3])))
            elif term == "input_gradient":
                input_gradient = True
            elif (found := _term(term)) is not None:
                values.setdefault(found[0], set()).add(found[1])
            else:
                raise RequirementError(f"unknown requirement {term!r}; valid terms: {VALID_TERMS}")
        if not (values or ranges or input_gradient):
            raise RequirementError(f"an empty requirement; valid terms: {VALID_TERMS}")
        return cls(text, tuple((k, frozenset(v)) for k, v in sorted(values.items())), tuple(ranges), input_gradient)

    def matches(self, case: Case) -> bool:
        dims = _dimensions(case)
        return (all(dims[name] in allowed for name, allowed in self.values)
                and all(_OPERATORS[op](dims[name], bound) for name, op, bound in self.ranges))

    def combinations(self, cases: Sequence[Case], within: Collection[str] | None = None) -> dict[tuple, list[Case]]:
        """The required combinations (one value per named dimension, ranges included as the
        values the grid has) and the grid's cases of each. ``within``, the ids of the cases an
        assignment takes (decided by the instructor's side, never by a submission), narrows the
        ranges to the values of those cases: ``depth>=2`` asks for each depth of 2 or more the
        assignment can be graded on, not for a depth whose only cases it refuses (an output
        activation it does not have, say). The named values are required as they are."""
        named = [name for name, _ in self.values] + sorted({name for name, _, _ in self.ranges})
        groups: dict[tuple, list[Case]] = {}
        for case in cases:
            if self.matches(case):
                dims = _dimensions(case)
                groups.setdefault(tuple((name, dims[name]) for name in named), []).append(case)
        if within is not None and self.ranges:
            groups = _ranges_within(groups, set(within), len(self.values))
        wanted = [sorted(allowed, key=str) for _, allowed in self.values]
        for combo in itertools.product(*wanted):
            key_prefix = tuple(zip((name for name, _ in self.values), combo))
            if not any(key[:len(key_prefix)] == key_prefix for key in groups):
                groups[key_prefix] = []  # a combination the grid has no case of
        return groups


def _ranges_within(groups: dict[tuple, list[Case]], within: set[str], named: int) -> dict[tuple, list[Case]]:
    """The combinations whose range values have a case in ``within``; where none of a named
    combination's has, all of them stay (that shortfall is the assignment's, and is said)."""
    def taken(members: list[Case]) -> bool:
        return any(case.id in within for case in members)

    met = {key[:named] for key, members in groups.items() if taken(members)}
    return {key: members for key, members in groups.items() if taken(members) or key[:named] not in met}


def _term(term: str) -> tuple[str, object] | None:
    if term in ("bias", "nobias"):
        return "bias", term == "bias"
    if term in ACTIVATIONS:
        return "activation", term
    if term.startswith("out=") and term[4:] in ACTIVATIONS:
        return "output", term[4:]
    if term in DTYPES:
        return "dtype", term
    if term == "vjp" or term in SEQUENCE_LOSSES:
        return "mode", term
    if term in ("l2", "nol2"):
        return "l2", term == "l2"
    if term in LAYER_KINDS:
        return f"layer {term}", True
    return None


def _describe(combination: tuple) -> str:
    words = {("bias", True): "bias", ("bias", False): "no bias", ("l2", True): "an L2 penalty",
             ("l2", False): "no L2 penalty"}
    return ", ".join(words.get((name, value), f"a {name[6:]} layer" if name.startswith("layer ") else f"{name} {value}")
                     for name, value in combination)


def check_grid(requirement: Requirement, cases: Sequence[Case]) -> None:
    """``RequirementError`` when the grid has no case for some required combination."""
    if missing := [combo for combo, members in requirement.combinations(cases).items() if not members]:
        raise RequirementError(f"--require {requirement.text}: the grid has no case with {_describe(missing[0])}")


def coverage_rows(implementation: str, requirement: Requirement, cases: Sequence[Case],
                  rows: Sequence[ResultRow], within: Collection[str] | None = None) -> list[ResultRow]:
    """A failing ``coverage`` row per required combination the target ran no case of (and
    one when the input gradient is required but not computed); ``within``: the cases an
    assignment takes (``Requirement.combinations``)."""
    skipped = {r.case: r.detail for r in rows if r.check == "case" and r.verdict == "not_applicable"}
    seen = {r.case for r in rows}
    out = []
    for combination, members in requirement.combinations(cases, within).items():
        ran = [c for c in members if c.id in seen and c.id not in skipped]
        if members and not ran:
            example = members[0]
            reason = skipped.get(example.id, "not run")
            out.append(row(implementation, example, "coverage", "*", "fail",
                           f"required by --require {requirement.text}: no case with {_describe(combination)} ran "
                           f"(e.g. {example.id}: {reason})"))
    if requirement.input_gradient:
        lacking = [r for r in rows if r.tensor == "input" and r.verdict == "not_applicable"]
        if lacking:
            out.append(row(implementation, next(c for c in cases if c.id == lacking[0].case), "coverage", "input",
                           "fail", f"required by --require {requirement.text}: the input gradient is not computed "
                                   f"({lacking[0].detail})"))
    return out
