"""Running cases: one implementation on one case, into result rows.

For each case: generate its data, ask the adapter whether it applies, get the
PyTorch oracle's answer, observe what the implementation produces (through
its adapter, on copies of the data), compare tensor by tensor, then mark
recorded known defects. The oracle and the implementation never see each
other; only the comparison does.
"""

from __future__ import annotations

import functools
import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from conformance import expectations as known
from conformance.adapter import Adapter, Gradients
from conformance.compare import compare
from conformance.oracles.torch import Reference, reference
from conformance.registry import Target
from conformance.results import ResultRow, comparison_row, row
from conformance.spec import Case, CaseData, generate

HARNESS_DIR = Path(__file__).resolve().parent
LIBRARY_DIRS = tuple({Path(p).resolve() for p in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                                                  sysconfig.get_paths()["platlib"])})


class ImplementationFault(Exception):
    """The implementation (or its adapter) raised or broke the contract; one line for the report."""


@dataclass(frozen=True, eq=False)
class Observation:
    """What the implementation produced for one case, as returned (not yet validated)."""

    output: object
    loss: object | None
    gradients: Gradients


@functools.lru_cache(maxsize=4096)
def case_data(case: Case) -> CaseData:
    """Generated once per case and shared by every implementation (never handed out: copies are)."""
    return generate(case)


@functools.lru_cache(maxsize=4096)
def oracle(case: Case) -> Reference:
    return reference(case_data(case))


def _is_users_code(filename: str) -> bool:
    path = Path(filename)
    return not (path.is_relative_to(HARNESS_DIR) or any(path.is_relative_to(p) for p in LIBRARY_DIRS))


def describe_exception(error: BaseException) -> str:
    """``Type: message (at file:line in function)``, naming the deepest frame of the
    implementation's own code (not the harness's, not a library's)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _is_users_code(f.filename)]
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}{where}" if message else f"{type(error).__name__}{where}"


def _as_gradients(value: object, method: str) -> Gradients:
    if not isinstance(value, Gradients):
        raise ImplementationFault(
            f"{method} must return conformance.Gradients(input, weights, biases), got {type(value).__name__}"
        )
    return value


def observe(adapter: Adapter, data: CaseData) -> Observation:
    """Build, run forward, then backward (VJP case) or the implementation's loss."""
    data = data.copy()  # whatever the implementation does to its arguments stays there
    spec = data.case.spec
    try:
        adapter.build(spec, data.params)
        output = adapter.forward(data.x)
        if spec.loss is None:
            return Observation(output, None, _as_gradients(adapter.backward(data.upstream), "backward"))
        loss, grads = _loss_pair(adapter.loss(data.x, data.targets))
        return Observation(output, loss, grads)
    except ImplementationFault:
        raise
    except Exception as error:
        raise ImplementationFault(describe_exception(error)) from error


def _loss_pair(value: object) -> tuple[object, Gradients]:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise ImplementationFault(f"loss must return (loss value, Gradients), got {type(value).__name__}")
    return value[0], _as_gradients(value[1], "loss")


def compare_with_oracle(
    name: str, case: Case, seen: Observation, ref: Reference, input_gradient: bool = True
) -> list[ResultRow]:
    """Rows for the output, the loss and every gradient tensor, against PyTorch."""
    dtype = case.dtype
    rows = [comparison_row(name, case, "forward", compare("output", seen.output, ref.output, dtype, "PyTorch"))]
    if case.spec.loss is not None:
        rows.append(comparison_row(name, case, "loss", compare("loss", seen.loss, np.asarray(ref.loss), dtype, "PyTorch")))
    got = seen.gradients.tensors()
    for tensor, want in ref.gradients.tensors().items():
        if want is None:
            continue
        if tensor == "input" and not input_gradient:
            rows.append(row(name, case, "gradient", "input", "not_applicable", "implementation computes no input gradient"))
            continue
        rows.append(comparison_row(name, case, "gradient", compare(tensor, got.get(tensor), want, dtype, "PyTorch")))
    return rows


def run_case(
    target: Target,
    case: Case,
    expectations: tuple[known.Expectation, ...] = (),
) -> list[ResultRow]:
    """Every result row of one implementation on one case."""
    name = target.name
    try:
        adapter = target.new()
        reason = adapter.supports(case.spec, case.batch, case.dtype)
    except Exception as error:
        return [row(name, case, "case", "*", "error", f"adapter failed to start: {describe_exception(error)}")]
    if reason:
        return [row(name, case, "case", "*", "not_applicable", reason)]
    data, ref = case_data(case), oracle(case)
    try:
        seen = observe(adapter, data)
    except ImplementationFault as fault:
        rows = [row(name, case, "case", "*", "error", str(fault))]
    else:
        rows = compare_with_oracle(name, case, seen, ref, adapter.capabilities.input_gradient)
    return known.apply(rows, case, expectations)


def run(targets: Iterable[Target], cases: Iterable[Case], expectations=None) -> list[ResultRow]:
    """Rows for every target on every case, serially."""
    expectations = known.load() if expectations is None else expectations
    cases = list(cases)
    return [r for target in targets for case in cases for r in run_case(target, case, expectations)]
