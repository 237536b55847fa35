"""A function check's result rows: the suite's ``ResultRow``, so that the report, its tables
and its files need nothing new. A run (one shape variant in one dtype) is the row's case;
its ``layers`` column holds the inputs' shapes, its ``batch`` the first input's leading size."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from conformance.judge.compare import Comparison
from conformance.judge.results import ResultRow
from conformance.functions.inputs import InputSpec, case_label

NAN = float("nan")


@dataclass(frozen=True)
class Run:
    """One run of a function: its name, inputs, dtype and seed."""

    function: str
    specs: tuple[InputSpec, ...]
    dtype: str
    seed: int

    @property
    def label(self) -> str:
        return case_label(self.specs, self.dtype)

    def row(self, check: str, tensor: str, verdict: str, detail: str, **errors) -> ResultRow:
        values = dict(max_abs_error=NAN, max_rel_error=NAN, worst_index="", tolerance="") | errors
        shapes = " ".join(spec.label() for spec in self.specs)
        batch = self.specs[0].shape[0] if self.specs and self.specs[0].shape else 1
        return ResultRow(implementation=self.function, case=self.label, layers=shapes, activation="", bias=False,
                         loss="", batch=batch, dtype=self.dtype, seed=self.seed, check=check, tensor=tensor,
                         verdict=verdict, detail=detail, **values)

    def compared(self, check: str, comparison: Comparison, detail: str | None = None) -> ResultRow:
        index = "" if comparison.worst_index is None else str(list(comparison.worst_index))
        return self.row(check, comparison.tensor, "pass" if comparison.passed else "fail",
                        comparison.message if detail is None else detail,
                        max_abs_error=comparison.max_abs_error, max_rel_error=comparison.max_rel_error,
                        worst_index=index, tolerance=str(comparison.tolerance))


def diagnosed(rows: Sequence[ResultRow], diagnosis: str) -> list[ResultRow]:
    """The rows with the run's diagnosis on every failing one."""
    return [replace(r, diagnosis=diagnosis) if diagnosis and r.verdict == "fail" and not r.diagnosis else r
            for r in rows]
