"""Capability profiles: the kinds of implementation an adapter can declare, and how many
cases of a grid each one meets.

A profile is a ``Capabilities`` value with a label. The grid is designed so that every
profile of ``profiles()`` meets at least ``FULL_MINIMUM`` cases of the full grid and
``QUICK_MINIMUM`` of the quick one (``tests/test_spec.py`` counts them). The profiles:

* *network* profiles: one hidden activation (each of the four) × the output layer the
  identity or the same activation × biases on every layer, on none, or either — each
  alone, or with one further restriction: float64 only, float32 only, VJP only (no loss
  of its own), losses only (``vjp=False``, every loss), one sample at a time
  (``max_batch=1``), at least two layers, at most three;
* *loss* profiles: one loss and no VJP (``vjp=False``, ``losses={loss}``), alone or with
  one further restriction: biases on or off, the identity output, one dtype, one sample
  at a time, at least two layers, at most three;
* *depth* profiles: exactly one, two, three or four layers, with biases on, off or
  either, VJP only or any mode;
* the *exercise* profile: relu/tanh/sigmoid hidden layers, an identity output, biases,
  float64 and a VJP backward (the most common course exercise).

Narrower combinations (one activation *and* one loss *and* one dtype *and* one sample
at a time, say) are real too, but a grid that gave each of them 100 cases would need
tens of thousands; ``conformance run --activation … --loss … --batch …`` narrows the
grid to such an implementation and ``--widths`` adds networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from conformance.contract.adapter import Capabilities
from conformance.cases.spec import ACTIVATIONS, Case, LOSSES

FULL_MINIMUM, QUICK_MINIMUM = 100, 20

BIAS = {"bias": frozenset({True}), "nobias": frozenset({False}), "anybias": frozenset({True, False})}


@dataclass(frozen=True)
class Profile:
    """A capability declaration an adapter can make, and a label for tables."""

    label: str
    capabilities: Capabilities

    def meets(self, cases: Sequence[Case]) -> int:
        """How many of ``cases`` an adapter declaring these capabilities runs."""
        return sum(self.capabilities.why_not(c.spec, c.batch, c.dtype) is None for c in cases)


#: One further restriction, by label: the ``Capabilities`` fields it sets.
NETWORK_RESTRICTIONS = {
    "": {},
    "float64": {"dtypes": frozenset({"float64"})},
    "float32": {"dtypes": frozenset({"float32"})},
    "vjp-only": {"losses": frozenset()},
    "losses-only": {"vjp": False},
    "batch1": {"max_batch": 1},
    "depth2+": {"min_depth": 2},
    "depth..3": {"max_depth": 3},
}
LOSS_RESTRICTIONS = {
    "": {},
    "bias": {"bias": BIAS["bias"]},
    "nobias": {"bias": BIAS["nobias"]},
    "identityout": {"output_activations": frozenset({"identity"})},
    **{key: value for key, value in NETWORK_RESTRICTIONS.items() if key in ("float64", "float32", "batch1",
                                                                             "depth2+", "depth..3")},
}


def _label(*parts: str) -> str:
    return "-".join(p for p in parts if p)


def network_profiles() -> list[Profile]:
    found = []
    for activation in ACTIVATIONS:
        for output in dict.fromkeys(("identity", activation)):
            out = "identityout" if output == "identity" and activation != "identity" else "sameout"
            for bias, allowed in BIAS.items():
                for restriction, fields in NETWORK_RESTRICTIONS.items():
                    caps = dict(activations=frozenset({activation}), output_activations=frozenset({output}),
                                bias=allowed, losses=frozenset(LOSSES)) | fields
                    found.append(Profile(_label(activation, out, bias, restriction), Capabilities(**caps)))
    return found


def loss_profiles() -> list[Profile]:
    return [Profile(_label(loss, "only", restriction),
                    Capabilities(**(dict(losses=frozenset({loss}), vjp=False) | fields)))
            for loss in LOSSES for restriction, fields in LOSS_RESTRICTIONS.items()]


def depth_profiles() -> list[Profile]:
    return [Profile(_label(f"depth{depth}", bias, modes),
                    Capabilities(min_depth=depth, max_depth=depth, bias=allowed,
                                 losses=frozenset() if modes == "vjp-only" else frozenset(LOSSES)))
            for depth in (1, 2, 3, 4) for bias, allowed in BIAS.items() for modes in ("", "vjp-only")]


EXERCISE = Profile("exercise: relu/tanh/sigmoid-identityout-bias-float64-vjp", Capabilities(
    activations=frozenset({"relu", "tanh", "sigmoid"}), output_activations=frozenset({"identity"}),
    bias=BIAS["bias"], dtypes=frozenset({"float64"})))


def profiles() -> list[Profile]:
    """Every profile the grid promises ``FULL_MINIMUM`` (full) and ``QUICK_MINIMUM`` (quick) cases."""
    return network_profiles() + loss_profiles() + depth_profiles() + [EXERCISE]


def counts(cases: Sequence[Case], chosen: Sequence[Profile] | None = None) -> dict[str, int]:
    """Cases met per profile label."""
    return {p.label: p.meets(cases) for p in (profiles() if chosen is None else chosen)}

