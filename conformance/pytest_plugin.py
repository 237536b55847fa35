"""The pytest plugin: ``--impl``, ``--grid``, ``--seed`` and the parametrized conformance test.

Any test that takes the ``conformance_case`` fixture is run once per
implementation × case, with ids like ``reference_numpy-3layer-tanh-bias-b4-float64-vjp``.
``verify`` turns one case's rows into a pytest outcome: a pass, a failure
that lists every unexpected row, an xfail for a recorded known defect, or a
skip that says why the case does not apply.
"""

from __future__ import annotations

import pytest

from conformance import expectations as known
from conformance import registry
from conformance.driver import Driver
from conformance.isolation import WorkerDriver, driver_for
from conformance.registry import Target, TargetError
from conformance.runner import run_case
from conformance.spec import Case, default_grid


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "backprop conformance suite")
    group.addoption("--impl", action="append", default=[], metavar="TARGET",
                    help="implementation to check: a built-in name, path/to/file.py[:Class] or module:Class "
                         "(repeatable; default: every built-in)")
    group.addoption("--grid", choices=("full", "quick"), default="full",
                    help="case grid: full (default) or quick (depth ≤ 2, batch 4)")
    group.addoption("--seed", type=int, default=0, help="seed of the generated case data (default 0)")
    group.addoption("--no-isolation", action="store_true",
                    help="run implementations in the test process instead of one worker process each")


def _targets(config: pytest.Config) -> list[Target]:
    names = config.getoption("impl") or registry.builtin_names()
    try:
        return [registry.load(name) for name in names]
    except TargetError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    cases = default_grid(seed=config.getoption("seed"), quick=config.getoption("grid") == "quick")
    pairs = [(target, case) for target in _targets(config) for case in cases]
    metafunc.parametrize("conformance_case", pairs, ids=[f"{t.name}-{c.id}" for t, c in pairs])


_DRIVERS: dict[Target, Driver | WorkerDriver] = {}


def _driver(target: Target, isolate: bool) -> Driver | WorkerDriver:
    """One driver per implementation for the whole session (a worker process when isolated)."""
    if target not in _DRIVERS:
        _DRIVERS[target] = driver_for(target, isolate)
    return _DRIVERS[target]


def pytest_sessionfinish(session: pytest.Session) -> None:
    for driver in _DRIVERS.values():
        driver.close()
    _DRIVERS.clear()


@pytest.fixture(scope="session")
def conformance_isolation(request: pytest.FixtureRequest) -> bool:
    return not request.config.getoption("no_isolation", default=False)


@pytest.fixture(scope="session")
def conformance_expectations() -> tuple[known.Expectation, ...]:
    return known.load()


def verify(
    target: Target, case: Case, expectations: tuple[known.Expectation, ...] = (), isolate: bool = True
) -> None:
    """Run one case and report it to pytest (fail / xfail / skip / pass)."""
    rows = run_case(_driver(target, isolate), case, expectations)
    if any(r.verdict == "not_applicable" and r.check == "case" for r in rows):
        pytest.skip(f"not applicable: {rows[0].detail}")
    unexpected = [r for r in rows if r.unexpected]
    if unexpected:
        lines = [f"{r.check} {r.verdict}: {r.detail}" for r in unexpected]
        pytest.fail(f"{target.name} on {case.id}:\n  " + "\n  ".join(lines), pytrace=False)
    expected = [r for r in rows if r.verdict == "expected_fail"]
    if expected:
        pytest.xfail("; ".join(sorted({r.detail.split(" — ")[0] for r in expected})))
