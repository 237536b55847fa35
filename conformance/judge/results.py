"""Result rows: one per implementation × case × check × tensor, the suite's unit of output.

Everything downstream (pytest verdicts, the report, the command line's exit
code) reads these rows and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from conformance.judge.compare import Comparison
from conformance.cases.spec import Case

VERDICTS = ("pass", "fail", "expected_fail", "error", "not_applicable")

#: Check families, in report order. ``forward``/``gradient``/``loss`` compare
#: with the PyTorch oracle; ``fd_*`` compare with finite differences of the
#: implementation's own forward; ``contract`` covers the rules every adapter
#: must keep; ``coverage`` the cases a run requires (``--require``); ``case`` is a
#: row for the case as a whole (not applicable, error).
CHECKS = ("forward", "gradient", "loss", "fd_directional", "fd_entry", "contract", "coverage", "case")
#: The checks against PyTorch's meaning of the case, and those against the implementation's own forward.
ORACLE_CHECKS = CHECKS[:3]
FD_CHECKS = CHECKS[3:5]


@dataclass(frozen=True)
class ResultRow:
    implementation: str
    case: str
    layers: str
    activation: str
    bias: bool
    loss: str
    batch: int
    dtype: str
    seed: int
    check: str
    tensor: str
    max_abs_error: float
    max_rel_error: float
    worst_index: str
    tolerance: str
    verdict: str
    #: The comparison's (or the rule's, or the error's) message.
    detail: str
    #: The recorded known defect that explains the row (``expected_fail`` rows), its reason.
    known_defect: str = ""
    #: What the case's diagnosis says (failing rows of a case whose values differ from PyTorch's).
    diagnosis: str = ""
    #: The conventions the row was judged under where they are not PyTorch's, in words
    #: (``cases.conventions``): the adapter's declared ones, or the ones fitted to its forward.
    convention: str = ""
    #: The convention was not declared but fitted: the implementation's forward differs from
    #: PyTorch's and follows it (``diagnosis.conventions``).
    fitted: bool = False

    @property
    def unexpected(self) -> bool:
        """A row that should make a run fail: a failure nobody recorded, or an error."""
        return self.verdict in ("fail", "error")

    @property
    def message(self) -> str:
        """The row's text for people: the known defect, the detail, the diagnosis."""
        return message(self.detail, self.known_defect, self.diagnosis)

    def as_dict(self) -> dict:
        # Every field is a plain scalar or string: no deep copy (dataclasses.asdict) needed.
        return {name: getattr(self, name) for name in COLUMNS}


COLUMNS = tuple(f.name for f in fields(ResultRow))
#: The columns holding text (the rest are numbers and flags).
TEXT_COLUMNS = ("implementation", "case", "layers", "activation", "loss", "dtype", "check", "tensor",
                "worst_index", "tolerance", "verdict", "detail", "known_defect", "diagnosis", "convention")


def cases_checked(rows) -> set[str]:
    """The cases some check compared something in: not those that do not apply, nor those stopped
    before any check (the adapter or its ``supports()`` raised: only a ``case`` row), nor a
    ``coverage`` row's example."""
    return {r.case for r in rows if r.check not in ("case", "coverage") and r.verdict != "not_applicable"}


def message(detail: str, known_defect: str = "", diagnosis: str = "") -> str:
    """A row's text as a sentence: "known defect: R — detail; diagnosis: D"."""
    known = f"known defect: {known_defect} — " if known_defect else ""
    return f"{known}{detail}{f'; diagnosis: {diagnosis}' if diagnosis else ''}"
NAN = float("nan")


def case_fields(implementation: str, case: Case) -> dict:
    """The columns that describe the case a row belongs to."""
    spec = case.spec
    return dict(
        implementation=implementation,
        case=case.id,
        layers="-".join(map(str, spec.sizes)),
        activation=spec.activation_label,
        bias=spec.bias,
        loss=spec.loss or "",
        batch=case.batch,
        dtype=case.dtype,
        seed=case.seed,
    )


def row(implementation: str, case: Case, check: str, tensor: str, verdict: str, detail: str, **errors) -> ResultRow:
    """A row without a comparison behind it (not applicable, error, contract)."""
    values = dict(max_abs_error=NAN, max_rel_error=NAN, worst_index="", tolerance="") | errors
    return ResultRow(**case_fields(implementation, case), check=check, tensor=tensor, verdict=verdict,
                     detail=detail, **values)


def comparison_row(implementation: str, case: Case, check: str, comparison: Comparison) -> ResultRow:
    """A pass/fail row from comparing one tensor with its reference."""
    index = "" if comparison.worst_index is None else str(list(comparison.worst_index))
    return row(
        implementation, case, check, comparison.tensor,
        "pass" if comparison.passed else "fail",  # a fault is a contract failure too (contract.py's rule)
        comparison.message,
        max_abs_error=comparison.max_abs_error,
        max_rel_error=comparison.max_rel_error,
        worst_index=index,
        tolerance=str(comparison.tolerance),
    )
