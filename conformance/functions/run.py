"""One run of a function under test (one set of inputs in one dtype) into result rows.

The rows, in the suite's families: ``contract`` (the call itself: gradients of the inputs'
shapes, finite; the same gradients when called again after a call elsewhere),
``forward``/``gradient`` against the optional reference under autograd, ``fd_directional``
(``v · grad`` against the derivative along ``v`` of the function's own forward) and
``fd_entry`` (single entries). A failing direction is taken again per input, which names the
wrong inputs, and each wrong input is bisected — halves of its entries as directions, the
half that disagrees more kept — down to one element: ``2·log2(n)`` estimates where a full
Jacobian takes ``n``. The element's row gives both values and the tolerance; the run's
diagnosis (``functions.diagnosis``) is put on every failing row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from conformance.judge.compare import Unusable, compare, tolerance_for, usable
from conformance.judge.results import ResultRow
from conformance.oracles.fd_checks import worst_estimate
from conformance.oracles.fd_scheme import Settings
from conformance.running.faults import describe_exception
from conformance.functions import diagnosis as why
from conformance.functions.finite import FunctionDifferences, Point, unit_direction
from conformance.functions.inputs import draw
from conformance.functions.rows import Run, diagnosed


@dataclass(frozen=True)
class Options:
    """What a run spends: dense directions over all inputs, the largest entry of each input
    probed together, the repeated call; inputs up to ``full_entries`` entries get every
    entry's finite difference when their gradient is wrong (the diagnosis's expected tensor)."""

    directions: int = 1
    #: The largest entry of each input probed together even when the directions agree.
    entries: bool = True
    repeat: bool = True
    #: The repeated call comes after a call at another point (a cache of the last call shows).
    history: bool = True
    full_entries: int = 256
    settings: Settings = field(default_factory=lambda: Settings(directions=1))


class Failed(Exception):
    """The function gave no usable answer; the run is one ``error`` row."""


def _call(subject, *args):
    try:
        return subject.run(*args)
    except Exception as error:  # whatever the function raises is its own
        raise Failed(describe_exception(error)) from None


def check_run(subject, run: Run, values: list[np.ndarray], eval_dtype: str, ran, reference=None,
              options: Options = Options()) -> list[ResultRow]:
    """Every row of one run (``ran``: the function's outputs and gradients there, from upstream
    gradients drawn from the run's seed); an error row when the function raises."""
    try:
        return _rows(subject, run, values, eval_dtype, ran, reference, options)
    except Failed as error:
        return [run.row("case", "*", "error", f"the function raised: {error}")]
    except Exception as error:  # raised by the function at a perturbed point, or a worker's fault
        return [run.row("case", "*", "error", f"while taking finite differences: {describe_exception(error)}")]


def _rows(subject, run: Run, values, eval_dtype: str, ran, reference, options: Options) -> list[ResultRow]:
    specs, rng = run.specs, np.random.default_rng([run.seed, 8])
    diff = [s.differentiable for s in specs]
    names = [s.name for s in specs if s.differentiable]
    upstream = list(ran.upstream)
    rows, grads = _gradients(run, names, [s for s in specs if s.differentiable], ran)
    if reference is not None:
        rows += _reference_rows(run, reference, values, diff, upstream, ran, names)
    if options.repeat:
        rows += _repeat_rows(subject, run, values, diff, upstream, grads, rng if options.history else None)
    same = all(o.dtype == np.dtype(eval_dtype) for o in ran.outputs if o.dtype.kind == "f")
    fd = FunctionDifferences(subject, Point(tuple(values), tuple(diff), tuple(upstream), eval_dtype), options.settings,
                             outputs=ran.outputs if same else None)
    fd.terms = float(sum(np.sum(np.abs(u * o)) for u, o in zip(upstream, ran.outputs) if o.dtype.kind == "f"))
    probe = _Prober(fd, run, names, grads, rng)
    found = probe.directional(options.directions)
    rows.append(found)
    history = "; ".join(sorted({r.diagnosis for r in rows if r.check == "contract" and r.diagnosis}))
    if found.verdict == "fail" and grads:
        extra, cause = probe.localise(options, reference_grads=_reference_grads(reference, values, diff, upstream))
        rows += extra
        rows = diagnosed(rows, "; ".join(c for c in (cause, history) if c))
    elif options.entries and grads:
        rows.append(probe.together())
    return rows


def _gradients(run: Run, names, specs, ran) -> tuple[list[ResultRow], dict[str, np.ndarray]]:
    """The usable gradients, and a contract row for each input whose gradient is unusable."""
    rows, grads = [], {}
    for name, spec, got in zip(names, specs, ran.gradients):
        if got is None:
            got = np.zeros(spec.shape)  # no gradient: zero, which the finite differences judge
        found = usable(got, spec.shape)
        if isinstance(found, Unusable):
            cause = why.shape_cause(np.shape(got), spec.shape) or ""
            rows.append(run.row("contract", name, "fail", f"gradient of {name}: {found.what}", diagnosis=cause))
        else:
            grads[name] = np.asarray(found, dtype=np.float64)
    return rows, grads


def _reference_grads(reference, values, diff, upstream) -> dict[str, np.ndarray] | None:
    if reference is None:
        return None
    got = _call(reference, [v.astype(np.float64) if v.dtype.kind == "f" else v for v in values], diff, upstream)
    return {f"#{k}": np.asarray(g, dtype=np.float64) for k, g in enumerate(got.gradients) if g is not None}


def _reference_rows(run: Run, reference, values, diff, upstream, ran, names) -> list[ResultRow]:
    want = _call(reference, [v.astype(np.float64) if v.dtype.kind == "f" else v for v in values], diff, upstream)
    rows = []
    for k, (got, expected) in enumerate(zip(ran.outputs, want.outputs)):
        label = "output" if len(ran.outputs) == 1 else f"output {k}"
        rows.append(run.compared("forward", compare(label, got, expected, run.dtype, "reference")))
    for name, got, expected in zip(names, ran.gradients, want.gradients):
        if got is not None and expected is not None:
            rows.append(run.compared("gradient", compare(name, got, expected, run.dtype, "reference")))
    return rows


def _repeat_rows(subject, run: Run, values, diff, upstream, grads, rng) -> list[ResultRow]:
    """The gradients again at the same point, after a call at another point (``rng``: drawn
    from it; None: right after the first)."""
    if rng is not None:
        _call(subject, draw(run.specs, run.dtype, rng), diff, upstream)
    again = _call(subject, values, diff, upstream)
    rows, identical = [], []
    names = [s.name for s in run.specs if s.differentiable]
    for name, got in zip(names, again.gradients):
        if name not in grads or got is None or np.shape(got) != grads[name].shape:
            continue
        if np.array_equal(got, grads[name]):  # the usual answer, without a comparison's cost
            identical.append(name)
            continue
        comparison = compare(f"{name} (called again)", got, grads[name], run.dtype, "first call")
        cause = "" if comparison.passed else why.repeat_cause(grads[name], np.asarray(got, dtype=np.float64))
        rows.append(replace(run.compared("contract", comparison), diagnosis=cause))
    if identical:
        rows.append(run.row("contract", "called again", "pass", f"the gradients of {', '.join(identical)} are "
                            "identical when the backward is called again" + (" after a call elsewhere" if rng else "")))
    return rows


class _Prober:
    """The finite-difference rows of one run."""

    def __init__(self, fd: FunctionDifferences, run: Run, names, grads: dict[str, np.ndarray], rng):
        self.fd, self.run, self.names, self.grads, self.rng = fd, run, names, grads, rng
        self.sizes = fd.point.sizes
        self.offsets = np.concatenate(([0], np.cumsum(self.sizes)))
        self.tol = tolerance_for(run.dtype)
        #: got / finite difference at the worst probe of each judged row, by (check, tensor).
        self.ratios: dict[tuple[str, str], float] = {}

    def _dot(self, vectors: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``v · grad`` and ``|v| · allowance`` for each vector, over the usable gradients."""
        actual, rounding = np.zeros(len(vectors)), np.zeros(len(vectors))
        for i, name in enumerate(self.names):
            if name not in self.grads:
                continue
            g = self.grads[name].ravel()
            allowance = self.tol.allowed(np.abs(g))
            for k, v in enumerate(vectors):
                part = v[self.offsets[i]:self.offsets[i + 1]]
                actual[k] += part @ g
                rounding[k] += np.abs(part) @ allowance
        return actual, rounding

    def _judge(self, check: str, tensor: str, vectors, kind: str, label, where, against: str) -> ResultRow:
        estimates = self.fd.along(vectors, kind)
        actual, rounding = self._dot(vectors)
        found = worst_estimate(tensor, actual, estimates, rounding, self.tol, label=label, against=against,
                               where=where)
        if isinstance(found, str):
            return self.run.row(check, tensor, "not_applicable",
                                f"no reliable finite difference: {found}; {estimates.describe()}")
        if found.expected:
            self.ratios[(check, tensor)] = found.actual / found.expected
        return self.run.compared(check, found, f"{found.message}; {estimates.describe()}")

    def _usable_only(self, vector: np.ndarray) -> np.ndarray:
        """The direction without the inputs whose gradient is unusable (renormalised)."""
        for i, name in enumerate(self.names):
            if name not in self.grads:
                vector[self.offsets[i]:self.offsets[i + 1]] = 0.0
        return vector / (np.linalg.norm(vector) or 1.0)

    def directional(self, count: int, only: int | None = None) -> ResultRow:
        vectors = [self._usable_only(unit_direction(self.rng, self.sizes, only)) for _ in range(count)]
        tensor = "*" if only is None else self.names[only]
        return self._judge("fd_directional", tensor, vectors, "directional",
                           lambda i: f"{tensor} direction {i + 1} of {count}: v·grad", lambda i: (i,),
                           "derivative along v")

    def together(self) -> ResultRow:
        """The largest entry of every input, probed along one sparse direction."""
        vector = np.zeros(int(self.offsets[-1]))
        for i, name in enumerate(self.names):
            if name in self.grads:
                vector[self.offsets[i] + int(np.argmax(np.abs(self.grads[name])))] = self.rng.choice([-1, 1]) * \
                    self.rng.uniform(0.5, 1.0)
        return self._judge("fd_entry", "*", [vector], "entry",
                           lambda i: "the largest entry of each input, probed together: Σ c·got", lambda i: (),
                           "finite difference")

    def entry(self, i: int, index: int) -> ResultRow:
        vector = np.zeros(int(self.offsets[-1]))
        vector[self.offsets[i] + index] = 1.0
        name, shape = self.names[i], self.grads[self.names[i]].shape
        where = tuple(int(k) for k in np.unravel_index(index, shape))
        return self._judge("fd_entry", name, [vector], "entry", lambda _: f"{name}{list(where)}: got",
                           lambda _: where, "finite difference")

    def bisect(self, i: int) -> int:
        """The entry of input ``i`` where the gradient disagrees most, halving the candidates."""
        lo, hi = 0, self.sizes[i]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            halves = [unit_direction(self.rng, self.sizes, i, (lo, mid)), unit_direction(self.rng, self.sizes, i,
                                                                                          (mid, hi))]
            estimates = self.fd.along(halves, "entry")
            actual, rounding = self._dot(halves)
            excess = [abs(a - e.derivative) / (r + e.error) if not e.unreliable else -1.0
                      for a, e, r in zip(actual, estimates.estimates, rounding)]
            lo, hi = (lo, mid) if excess[0] >= excess[1] else (mid, hi)
        return lo

    def localise(self, options, reference_grads) -> tuple[list[ResultRow], str]:
        """Per-input directions, the worst element of each wrong input, and the diagnosis."""
        rows = [self.directional(1, only=i) for i in range(len(self.names)) if self.names[i] in self.grads]
        wrong = [r.tensor for r in rows if r.verdict == "fail"]
        findings, all_sizes = [], sorted({d for s in self.run.specs for d in s.shape})
        for name in wrong:
            i = self.names.index(name)
            entry_row = self.entry(i, self.bisect(i))
            rows.append(entry_row)
            got = self.grads[name]
            expected = None if reference_grads is None else reference_grads.get(f"#{i}")
            if expected is None and got.size <= options.full_entries:
                expected = self._every_entry(i)
            if expected is not None:
                cause = why.tensor_cause(got, expected.reshape(got.shape), all_sizes)
            else:
                cause = why.ratio_cause([self.ratios.get(("fd_directional", name), np.nan),
                                         self.ratios.get(("fd_entry", name), np.nan)], all_sizes)
            if cause:
                findings.append(why.Finding(name, cause))
        return rows, why.describe(findings, wrong, self.names)

    def _every_entry(self, i: int) -> np.ndarray | None:
        probes = [int(self.offsets[i] + k) for k in range(self.sizes[i])]
        estimates = self.fd.along(probes, "entry")
        if any(e.unreliable for e in estimates.estimates):
            return None
        return np.array([e.derivative for e in estimates.estimates])

