"""``check_function`` and ``assert_gradients``: any function with a hand-written backward,
checked against finite differences of its own forward (and an optional reference under
autograd), over generated inputs or the ones given.

What is checked: a ``torch.autograd.Function`` subclass or a callable on torch tensors;
a NumPy pair (``fn`` the forward, ``backward=`` the backward); a layer object with
``forward``/``backward`` methods (its ``params`` differentiated too). Inputs: examples
(``check_function(fn, x, w)``: those inputs, in their dtype, as gradcheck takes them), or a
description (``inputs={"x": (4, 8), "w": (8, 3)}``): then ``shapes`` variants in float64
and float32 (each dtype the function accepts), values drawn from ``seed`` and drawn again
where the forward shows a kink near them (``KINK_REDRAWS``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from conformance.judge.results import COLUMNS, ResultRow
from conformance.running.faults import describe_exception
from conformance.running.function_worker import worker_fault
from conformance.running.subjects import NumpySubject, TorchSubject, layer_params, parameter_names, set_param
from conformance.functions.finite import KINK
from conformance.functions.inputs import (InputSpec, as_numpy, draw, from_description, from_examples, variants)
from conformance.functions.rows import Run
from conformance.functions.run import Options, check_run

DTYPES = ("float64", "float32")
#: Draws of a run's inputs, at most, to keep its points off the forward's kinks.
KINK_REDRAWS = 4


@dataclass(frozen=True)
class FunctionReport:
    """Every row of a function's check, and its verdict."""

    function: str
    rows: tuple[ResultRow, ...]

    @property
    def passed(self) -> bool:
        """No failure and no error, and at least one check that passed (all not applicable is no pass)."""
        return any(r.verdict == "pass" for r in self.rows) and not any(r.unexpected for r in self.rows)

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame([r.as_dict() for r in self.rows], columns=list(COLUMNS))

    @property
    def message(self) -> str:
        """The verdict and one line per failing or errored row (element, values, tolerance, cause)."""
        runs = len({r.case for r in self.rows})
        bad = [r for r in self.rows if r.unexpected]
        verdict = "gradients agree" if self.passed else "GRADIENTS WRONG" if bad else "NOTHING CHECKED (no run applied)"
        head = (f"{self.function}: {verdict} — "
                f"{runs} run{'s' * (runs != 1)}, {len(self.rows)} checks")
        lines = [head]
        diagnoses = list(dict.fromkeys(r.diagnosis for r in bad if r.diagnosis))
        lines += [f"  diagnosis: {d}" for d in diagnoses[:3]]
        groups: dict[tuple[str, str, str], list[ResultRow]] = {}
        for r in bad:
            groups.setdefault((r.check, r.verdict, r.tensor), []).append(r)
        for (check, verdict, tensor), found in groups.items():
            first = found[0]
            lines.append(f"  {check} {verdict.upper()} {tensor} in {len(found)} of {runs} runs, e.g. {first.case}: "
                         f"{first.detail}")
        skipped = [r for r in self.rows if r.verdict == "not_applicable"]
        if skipped:
            lines.append(f"  not applicable: {len(skipped)} — e.g. {skipped[0].case}: {skipped[0].detail}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.message


def _is_layer(fn: Any) -> bool:
    return not isinstance(fn, type) and callable(getattr(fn, "forward", None)) and \
        callable(getattr(fn, "backward", None))


def subject_for(fn: Any, backward=None, cache: bool | None = None, params: Sequence[str] = (), device=None):
    """The subject that calls ``fn`` (see the module's docstring)."""
    if backward is not None:
        return NumpySubject(fn, backward, cache)
    if _is_layer(fn):
        return NumpySubject(fn.forward, fn.backward, layer=fn, params=params)
    if not callable(fn):
        raise TypeError(f"cannot check {type(fn).__name__}: give a torch.autograd.Function, a callable on "
                        "tensors, a NumPy forward with backward=, or a layer with forward and backward")
    return TorchSubject(fn, device or "cpu")


def _names(fn: Any, count: int, layer_names: Sequence[str]) -> list[str]:
    names = parameter_names(fn.forward if _is_layer(fn) else fn) or []
    names = [n for n in names if not n.startswith("*")][:count - len(layer_names)]
    names += [f"input{k}" for k in range(len(names), count - len(layer_names))]
    return names + list(layer_names)


def _device(examples: Sequence[Any]) -> str | None:
    for example in examples:
        if hasattr(example, "device"):
            return str(example.device)
    return None


def check_function(fn: Any, *examples: Any, inputs: Mapping[str, Any] | None = None, backward=None,
                   cache: bool | None = None, reference=None, params: Sequence[str] | None = None,
                   constant: Sequence[str] = (), dtypes: Sequence[str] | None = None, shapes: int = 2,
                   seed: int = 0, name: str | None = None, device: str | None = None,
                   options: Options = Options()) -> FunctionReport:
    """Check ``fn``'s hand-written backward; the report's ``passed``, ``message`` and ``table``.
    A torch function runs on ``device`` (default: the examples' device, else the CPU), and so do
    its reference and its finite differences (in float64 where the device has it)."""
    with _parameters_kept(fn, params):
        return _check_function(fn, examples, inputs, backward, cache, reference, params, constant, dtypes, shapes,
                               seed, name, device, options)


@contextmanager
def _parameters_kept(fn: Any, params: Sequence[str] | None):
    """A layer object keeps its own parameters: the check sets drawn ones on it."""
    own = layer_params(fn) if _is_layer(fn) else {}
    names = list(params if params is not None else own)
    saved = {p: own[p] if p in own else getattr(fn, p, None) for p in names} if _is_layer(fn) else {}
    try:
        yield
    finally:
        for p, value in saved.items():
            set_param(fn, p, value)


def _check_function(fn: Any, examples: tuple, inputs, backward, cache, reference, params, constant, dtypes, shapes,
                    seed: int, name, device, options: Options) -> FunctionReport:
    layer_names = list(params if params is not None else layer_params(fn)) if _is_layer(fn) else []
    device = device or _device(examples)
    subject = subject_for(fn, backward, cache, layer_names, device)
    ref = None if reference is None else TorchSubject(reference, device or "cpu")
    label = name or getattr(fn, "__name__", type(fn).__name__)
    if examples and inputs is not None:
        raise ValueError("give inputs as examples or as a description (inputs=), not both")
    if examples:
        values = [as_numpy(e) for e in examples] + [layer_params(fn)[p] for p in layer_names]
        specs = from_examples(values, _names(fn, len(values), layer_names), constant)
        floats = {str(v.dtype) for v in values if v.dtype.kind == "f"}
        dtype = floats.pop() if len(floats) == 1 else "float64"
        given = replace(options, history=False, entries=False) if options == Options() else options
        return FunctionReport(label, tuple(_one(subject, Run(label, specs, dtype, seed), values, ref, given,
                                                generated=False)))
    if inputs is None:
        raise ValueError("give example inputs, or describe them: inputs={'x': (4, 8), 'w': (8, 3)}")
    specs = from_description(inputs)
    if layer_names:
        own = layer_params(fn)
        specs += tuple(InputSpec(p, own[p].shape) for p in layer_names if p not in inputs)
    return check_generated(subject, label, specs, ref, dtypes or DTYPES, shapes, seed, options)


def check_generated(subject, label: str, specs: tuple[InputSpec, ...], ref=None, dtypes: Sequence[str] = DTYPES,
                    shapes: int = 2, seed: int = 0, options: Options = Options()) -> FunctionReport:
    """A subject on drawn inputs: ``shapes`` variants of ``specs`` in each of ``dtypes``."""
    rows: list[ResultRow] = []
    for k, variant in enumerate(variants(specs, shapes)):
        for dtype in dtypes:
            rows += _generated(subject, Run(label, variant, dtype, seed + 1000 * k), ref, options)
    return FunctionReport(label, tuple(rows))


def _generated(subject, run: Run, ref, options: Options) -> list[ResultRow]:
    """A run on drawn inputs, drawn again while the forward shows a kink at the point."""
    for attempt in range(KINK_REDRAWS):
        values = draw(run.specs, run.dtype, np.random.default_rng([run.seed, attempt]))
        rows = _one(subject, run, values, ref, options, generated=True)
        if not any(KINK in r.detail and r.verdict == "not_applicable" for r in rows):
            break
    note = f"; inputs drawn {attempt + 1} times (the forward has a kink near the earlier draws)" if attempt else ""
    return [r if not note else _noted(r, note) for r in rows]


def _noted(row: ResultRow, note: str) -> ResultRow:
    return ResultRow(**(row.as_dict() | {"detail": row.detail + note}))


def _evaluation_dtype(subject, values: list[np.ndarray], diff: list[bool], dtype: str) -> str:
    """float64 where the function runs in it (its outputs float64 from float64 inputs), else ``dtype``."""
    if dtype == "float64":
        return dtype
    try:
        ran = subject.run([v.astype(np.float64) if v.dtype.kind == "f" else v for v in values], diff)
    except Exception:  # float32-only: differentiated in float32
        return dtype
    return "float64" if all(o.dtype == np.float64 for o in ran.outputs if o.dtype.kind == "f") else dtype


def _one(subject, run: Run, values, ref, options: Options, generated: bool) -> list[ResultRow]:
    diff = [s.differentiable for s in run.specs]
    try:
        ran = subject.run(values, diff, run.seed)
    except Exception as error:
        return [_refused(subject, run, values, diff, error, generated)]
    if not any(o.dtype.kind == "f" for o in ran.outputs):
        return [run.row("case", "*", "error", "the function returned no floating output to differentiate")]
    if generated and any(o.dtype.kind == "f" and o.dtype != np.dtype(run.dtype) for o in ran.outputs):
        return [run.row("case", "*", "not_applicable", f"the function computes in "
                        f"{next(o.dtype for o in ran.outputs if o.dtype.kind == 'f')}, not {run.dtype}")]
    return check_run(subject, run, values, _evaluation_dtype(subject, values, diff, run.dtype), ran, ref, options)


def _refused(subject, run: Run, values, diff, error: Exception, generated: bool) -> ResultRow:
    """The row of a run whose first call raised: not applicable when the forward itself does not
    take generated inputs of these shapes or dtype, else an error."""
    reason = describe_exception(error)
    try:
        subject.run(values, diff)
    except Exception as forward_error:
        if generated and not worker_fault(forward_error):
            return run.row("case", "*", "not_applicable",
                           f"the function does not run on these inputs: {describe_exception(forward_error)}")
        return run.row("case", "*", "error", f"the function raised: {describe_exception(forward_error)}")
    return run.row("case", "*", "error", f"the backward raised: {reason}")


def assert_gradients(fn: Any, *examples: Any, **options: Any) -> FunctionReport:
    """``check_function``, raising ``AssertionError`` with its message when a gradient is wrong."""
    report = check_function(fn, *examples, **options)
    if not report.passed:
        raise AssertionError(report.message)
    return report
