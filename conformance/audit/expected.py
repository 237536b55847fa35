"""What a mutant's failing cases should get (``Expected``): the finding its bug deserves (kind,
layers or tensors, factor, variant; "unexplained" for a bug no hypothesis describes) or, for a
bug the contract's repeated calls must find, the words of the contract row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from conformance.diagnosis.findings import Finding, matches
from conformance.cases.spec import Case, NetworkSpec


#: The expected diagnosis of a bug no hypothesis describes: none named.
UNEXPLAINED = "unexplained"
#: What the contract says of a model whose weights a backward changed (a second run disagrees).
WEIGHTS_CHANGED = "weights changed in place"


@dataclass(frozen=True)
class Expected:
    """The finding a mutant's failing cases should get (fields as in ``findings.Finding``;
    layers, tensors and factor may depend on the case)."""

    kind: str
    layers: Callable[[NetworkSpec], tuple[int, ...]] | None = None
    tensors: Callable[[NetworkSpec], tuple[str, ...]] | None = None
    factor: Callable[[Case], float] | None = None
    #: A variant, or the variant a network gives (where two forms of a bug coincide, the plain one).
    variant: str | Callable[[NetworkSpec], str] = ""
    #: Where and how much, in words, for the audit's table.
    where: str = ""
    #: For a bug the contract's repeated calls must find: words its failing contract rows say.
    contract: str = ""
    #: For a bug that changes the model's state as it runs: where its values agree with PyTorch's
    #: within the tolerance, the contract row saying these words is the right answer instead.
    or_contract: str = ""

    def met(self, findings: tuple[Finding, ...] | None, rows, case: Case) -> bool:
        """Whether a failing case's diagnosis (None: none was made) and rows are what was expected."""
        if self.contract:
            return any(r.check == "contract" and r.unexpected and self.contract in r.detail for r in rows)
        if findings is None and self.or_contract:
            return any(r.check == "contract" and r.unexpected and self.or_contract in r.detail for r in rows)
        return findings is not None and self.met_by(findings, case)

    def met_by(self, findings: tuple[Finding, ...], case: Case) -> bool:
        spec = case.spec
        if self.kind == UNEXPLAINED:
            return not [f for f in findings if f.kind != "wrong_dtype"]
        return matches(findings, self.kind, self.layers(spec) if self.layers else None,
                       self.tensors(spec) if self.tensors else None,
                       self.factor(case) if self.factor else None,
                       self.variant(spec) if callable(self.variant) else self.variant)

    def __str__(self) -> str:
        variant = "" if callable(self.variant) else self.variant
        return " ".join(part for part in (self.kind, variant, self.where) if part)
