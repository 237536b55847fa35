"""What the pytest plugin runs once the suite's own tests are collected: which cases apply to
a target, one case's verdict as a pytest outcome, timing next to PyTorch through
pytest-benchmark, and ``assert_conforms`` for a user's own tests.

The plugin module (``conformance.pytest_plugin``) stays light because pytest
imports it in every project of the environment; this module brings in NumPy,
PyTorch and the harness, and is imported only when a test of the suite runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from conformance.judge import expectations as known
from conformance.running import targets as registry
from conformance.contract.adapter import Adapter
from conformance.reporting.verdicts import VERDICTS, TargetResult, render_target
from conformance.check import check_target
from conformance.running.driver import ImplementationFault
from conformance.running.protocol import ImplementationDriver
from conformance.running.isolation import driver_for
from conformance.running.limits import Limits
from conformance.cases.grids import GRIDS
from conformance.running.targets import Target, TargetError
from conformance.runner import run_case
from conformance.cases.spec import Case
from conformance.cases.grid import default_grid, smoke_grid



def grid(name: str, seed: int = 0) -> list[Case]:
    """The case grid called ``name`` (``full``, ``quick`` or ``smoke``)."""
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}; the grids are {', '.join(GRIDS)}")
    return smoke_grid(seed) if name == "smoke" else default_grid(seed=seed, quick=name == "quick")


@dataclass(frozen=True)
class Applicability:
    """The cases of a grid a target runs, and how many of the others each reason excludes."""

    cases: tuple[Case, ...]
    reasons: tuple[tuple[str, int], ...] = ()

    @property
    def excluded(self) -> int:
        return sum(count for _, count in self.reasons)


def applicable(target: Target, cases: list[Case], isolate: bool = True) -> Applicability:
    """Which of ``cases`` the target's declared capabilities admit: the one place that decides.

    It reads the capabilities the adapter declares, as its sandboxed worker reports
    them (``TargetError`` when it cannot be loaded); an adapter that refuses more in
    ``supports()`` still gets those cases, and they are skipped, with its reason,
    when they run."""
    try:
        capabilities = _driver(target, isolate).capabilities
    except ImplementationFault as fault:
        raise TargetError(f"{target.name}: {fault}") from None
    runs, reasons = [], Counter()
    for case in cases:
        if why := capabilities.why_not(case.spec, case.batch, case.dtype):
            reasons[why] += 1
        else:
            runs.append(case)
    return Applicability(tuple(runs), tuple(reasons.most_common()))


_DRIVERS: dict[Target, ImplementationDriver] = {}


def _driver(target: Target, isolate: bool) -> ImplementationDriver:
    """One driver per implementation for the whole session (a worker process when isolated)."""
    if target not in _DRIVERS:
        _DRIVERS[target] = driver_for(target, isolate)
    return _DRIVERS[target]


def close_drivers() -> None:
    for driver in _DRIVERS.values():
        driver.close()
    _DRIVERS.clear()


def verify(
    target: Target, case: Case | None, expectations: tuple[known.Expectation, ...] = (), isolate: bool = True,
    named: bool = True,
) -> None:
    """Run one case and report it to pytest (fail / xfail / skip / pass). ``case`` None stands
    for a target to which no case of the grid applies: a failure for a target the user named
    (as ``conformance check`` says), a skip for a built-in run by default."""
    __tracebackhide__ = True
    if case is None:
        message = f"{target.name}: no case of the grid applies to it (see `conformance list`)"
        pytest.fail(message, pytrace=False) if named else pytest.skip(message)
    rows = run_case(_driver(target, isolate), case, known.for_target(expectations, target))
    result = TargetResult(target.name, target.name, tuple(rows), cases=1)
    outcome = VERDICTS[result.verdict].pytest  # the verdict table's word for one case
    if outcome == "skip":
        pytest.skip(f"not applicable: {rows[0].detail}")
    if outcome == "fail":
        lines = [f"{r.check} {r.verdict}: {r.message}" for r in rows if r.unexpected]
        pytest.fail(f"{target.name} on {case.id}:\n  " + "\n  ".join(lines), pytrace=False)
    if outcome == "xfail":
        expected = [r for r in rows if r.verdict == "expected_fail"]
        pytest.xfail("; ".join(sorted({f"known defect: {r.known_defect}" for r in expected})))


# ---- timing through pytest-benchmark -----------------------------------------------------

@dataclass(frozen=True)
class Timing:
    """One benchmark of the suite: a target (None: PyTorch) on one timing case."""

    target: Target | None
    case: Case

    @property
    def name(self) -> str:
        return self.target.name if self.target else "pytorch"

    @property
    def label(self) -> str:
        """The case and its layer widths (timing cases differ only by width), e.g.
        ``2layer-tanh-bias-b32-float64-vjp-3x256x2``."""
        layers = self.case.spec.layers
        widths = [layers[0].n_in, *(layer.n_out for layer in layers)]
        return f"{self.case.id}-{'x'.join(str(n) for n in widths)}"


def timing_params(targets: list[Target], cases: list[Case], nothing_judged: bool = False) -> list[Timing]:
    """Each target on the timing cases drawn from those that apply to it, and PyTorch once
    on every case timed. pytest-benchmark measures in this process, so a target named by
    its path is loaded here only when ``nothing_judged`` (``--benchmark-only``: no verdict
    is given in this session that its code could change); otherwise only the bundled
    implementations and adapter classes handed over here are timed this way, and
    ``conformance run`` times the others in their sandboxed workers (``timing.timing_cases``: per depth
    and dtype, three widths)."""
    from conformance.running.timing import timing_cases

    out, torch_cases = [], {}
    for target in (t for t in targets if t.adapter is not None or t.builtin or nothing_judged):
        target = target.loaded_here()  # measured in this process: only the suite's own or the caller's class
        for case in timing_cases(list(applicable(target, cases).cases)):
            out.append(Timing(target, case))
            torch_cases.setdefault(out[-1].label, case)
    return out + [Timing(None, case) for case in torch_cases.values()]


def step(timing: Timing):
    """One forward and backward (or loss and gradients) of the target, or of PyTorch, as a
    callable: the same tasks ``conformance run`` times (``timing.adapter_tasks``)."""
    from conformance.cases.mlp_data import generate
    from conformance.running.timing import adapter_tasks, torch_tasks

    data = generate(timing.case)
    if timing.target is None:
        task = torch_tasks(data)["backward"]
    else:
        task = adapter_tasks(timing.target.new(), data)["backward"]

    def once():
        if task.setup is not None:
            task.setup()
        task.call()
    return once


def time_case(benchmark, timing: Timing) -> None:
    """Time one step with the ``benchmark`` fixture, grouped by case so that each
    implementation sits next to PyTorch in pytest-benchmark's table."""
    import torch

    torch.set_num_threads(1)
    benchmark.group = timing.label
    benchmark.extra_info.update(implementation=timing.name, case=timing.label,
                                n_params=timing.case.spec.n_params, dtype=timing.case.dtype)
    benchmark(step(timing))


# ---- a user's own test ---------------------------------------------------------------------

def assert_conforms(
    adapter: type[Adapter] | str,
    *,
    quick: bool = False,
    seed: int = 0,
    cases: list[Case] | None = None,
    expectations: tuple[known.Expectation, ...] = (),
    isolate: bool = True,
    limits: Limits = Limits(),
) -> TargetResult:
    """Run the suite on one adapter and raise ``AssertionError`` unless it conforms.

    Call it from a test of your own::

        from conformance import assert_conforms
        from my_adapter import MyAdapter

        def test_my_backprop_matches_autograd():
            assert_conforms(MyAdapter, quick=True)

    ``adapter`` is an adapter class, or anything ``conformance check`` accepts
    (``path/to/file.py``, ``module:Class``, an entry point's name). The grid is
    the default one (``quick``: every network kind and mode on fewer networks) unless ``cases``
    are given; ``expectations`` are recorded known defects (see
    ``conformance.judge.expectations``). The adapter runs in a worker process when it
    is defined at module level (``isolate=False`` runs it in the test's own
    process). The message of the failure is what ``conformance check`` prints:
    each check family's verdict and, per wrong tensor, the worst element with
    both values and the tolerance. A mistake in the adapter itself (a missing
    method, a wrong signature, unknown capability names) raises ``TargetError``
    saying what the contract expects. If no case of the grid applies, that is a
    failure too. Returns the ``TargetResult`` (its ``rows`` hold every result).
    """
    __tracebackhide__ = True
    target = registry.as_target(adapter)
    result = check_target(target, cases if cases is not None else default_grid(seed, quick), expectations,
                          isolate, limits)
    if not result.conforms:
        raise AssertionError(render_target(result))
    return result
