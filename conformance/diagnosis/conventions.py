"""Conventions first: whether a forward that differs from PyTorch's follows a common convention.

Where the implementation's output or loss differs from the oracle's under the conventions
declared (PyTorch's unless the adapter says otherwise), each common convention the network
uses is tried (``cases.conventions.common``: norm eps, the loss's reductions, the L2 scale,
eps or clip inside the cross-entropies' log), one at a time. The one that reproduces the
output and the loss, and among several the one that reproduces them most closely, is the
fit. The runner then judges the case under it: its gradients against the oracle under the
fitted convention (and against finite differences of its own forward, as always), and a
wrong gradient is diagnosed there, so a convention is never called a bug and a bug is never
excused as a convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from conformance.cases.conventions import Conventions, common
from conformance.cases.spec import Case, CaseData
from conformance.judge.compare import compare
from conformance.oracles.torch import reference
from conformance.running.driver import Observation


#: How a fitted row names a convention that is PyTorch's own for its case (the adapter declared
#: another, which its forward does not follow).
NOT_AS_DECLARED = "PyTorch's own meaning, not the conventions declared,"


@dataclass(frozen=True)
class Fit:
    """A convention that reproduces the implementation's forward, and the case judged under it."""

    conventions: Conventions
    case: Case
    #: Other conventions that reproduce the forward as closely (indistinguishable on this case).
    alternatives: tuple[Conventions, ...] = ()
    #: The gradients agree with the oracle under the declared conventions: the backward ignores
    #: the convention its forward follows (set by the runner, which compared them).
    declared_backward: bool = False
    #: The run accepts no other convention (``settings.Checks.other_convention``): the forward and
    #: loss fail, ``refusal`` the reason (set by the runner).
    refused: bool = False

    @property
    def words(self) -> str:
        """The convention in words, and those it cannot be told from here."""
        others = [c.words(self.case.spec) for c in self.alternatives]
        return self.conventions.words(self.case.spec) + (f" (or {' or '.join(others)}: indistinguishable "
                                                           f"on this case)" if others else "")

    @property
    def refusal(self) -> str:
        """Why the forward and loss fail where no other convention is accepted."""
        return f"its forward follows {self.words}, not PyTorch's meaning; no other convention is accepted here"


def _closeness(seen: Observation, data: CaseData) -> float | None:
    """How far the implementation's output and loss are from the oracle's for ``data`` (the
    largest error as a fraction of its tolerance), or None when one of them fails."""
    ref = reference(data)
    if not (np.isfinite(ref.output).all() and (ref.loss is None or np.isfinite(ref.loss))):
        return None
    found = [compare("output", seen.output, ref.output, data.case.dtype)]
    if data.case.spec.loss is not None:
        found.append(compare("loss", seen.loss, np.asarray(ref.loss), data.case.dtype))
    if not all(c.passed for c in found):
        return None
    pairs = [(seen.output, ref.output)] + ([(seen.loss, ref.loss)] if data.case.spec.loss is not None else [])
    return max(float(np.max(np.abs(np.asarray(got, dtype=np.float64) - due), initial=0.0))
               / (float(np.max(np.abs(due), initial=0.0)) + 1e-300) for got, due in pairs)


def fitted(data: CaseData, seen: Observation) -> Fit | None:
    """The common convention under which the oracle's output and loss agree with the
    implementation's, where the declared ones' do not; None when none does."""
    reproducing = []
    for conventions in common(data.case.conventions, data.case.spec):
        closeness = _closeness(seen, replace(data, case=replace(data.case, conventions=conventions)))
        if closeness is not None and not math.isnan(closeness):
            reproducing.append((closeness, conventions))
    if not reproducing:
        return None
    best, chosen = min(reproducing, key=lambda pair: pair[0])  # the first of equals: the simplest change
    alike = tuple(c for closeness, c in reproducing if c != chosen and closeness <= 2 * best + 1e-13)
    return Fit(chosen, replace(data.case, conventions=chosen), alike)
