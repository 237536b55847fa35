"""The pytest plugin: ``--impl``, ``--grid``, ``--seed``, the parametrized conformance test,
and ``assert_conforms`` for a user's own tests.

Any test that takes the ``conformance_case`` fixture is run once per
implementation × case, with ids like ``reference_numpy-3layer-tanh-bias-b4-float64-vjp``.
``verify`` turns one case's rows into a pytest outcome: a pass, a failure
that lists every unexpected row, an xfail for a recorded known defect, or a
skip that says why the case does not apply.

``pytest --impl TARGET`` runs that suite on a plug-in (a file, a folder, a
glob, ``module:Class`` or an installed entry point's name); a test of one's
own calls ``assert_conforms(MyAdapter)`` instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import expectations as known
from conformance import registry
from conformance.adapter import Adapter
from conformance.check import TargetResult, check_target, render_target
from conformance.contract import class_problems
from conformance.driver import Driver
from conformance.isolation import Limits, WorkerDriver, driver_for
from conformance.registry import Target, TargetError, Unloadable
from conformance.runner import run_case
from conformance.spec import Case, default_grid


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "backprop conformance suite")
    group.addoption("--impl", action="append", default=[], metavar="TARGET",
                    help="implementation to check: a built-in name, path/to/file.py[:Class], a folder or glob "
                         "of such files, module:Class or an installed entry point's name "
                         "(repeatable; default: every built-in)")
    group.addoption("--grid", choices=("full", "quick"), default="full",
                    help="case grid: full (default) or quick (depth ≤ 2, batch 4)")
    group.addoption("--seed", type=int, default=0, help="seed of the generated case data (default 0)")
    group.addoption("--no-isolation", action="store_true",
                    help="run implementations in the test process instead of one worker process each")


_TARGETS = pytest.StashKey[list[Target]]()


def pytest_configure(config: pytest.Config) -> None:
    """Load the ``--impl`` targets up front, so a bad one is a usage error of one line."""
    if config.getoption("impl", default=None):
        config.stash[_TARGETS] = _loaded(config.getoption("impl"))


def _loaded(names: list[str]) -> list[Target]:
    loaded = registry.load_all(names)
    if bad := [item.reason for item in loaded if isinstance(item, Unloadable)]:
        raise pytest.UsageError("\n".join(bad))
    return loaded


def _targets(config: pytest.Config) -> list[Target]:
    if _TARGETS not in config.stash:
        config.stash[_TARGETS] = _loaded(registry.builtin_names())
    return config.stash[_TARGETS]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    cases = default_grid(seed=config.getoption("seed"), quick=config.getoption("grid") == "quick")
    pairs = [(target, case) for target in _targets(config) for case in cases]
    metafunc.parametrize("conformance_case", pairs, ids=[f"{t.name}-{c.id}" for t, c in pairs])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--impl`` and no test of the session running the suite, run the shipped one."""
    if not config.getoption("impl") or any("conformance_case" in getattr(i, "fixturenames", ()) for i in items):
        return
    from conformance import suite

    module = pytest.Module.from_parent(session, path=Path(suite.__file__))
    items.extend(session.genitems(module))


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
    rows = run_case(_driver(target, isolate), case, known.for_target(expectations, target))
    if any(r.verdict == "not_applicable" and r.check == "case" for r in rows):
        pytest.skip(f"not applicable: {rows[0].detail}")
    unexpected = [r for r in rows if r.unexpected]
    if unexpected:
        lines = [f"{r.check} {r.verdict}: {r.detail}" for r in unexpected]
        pytest.fail(f"{target.name} on {case.id}:\n  " + "\n  ".join(lines), pytrace=False)
    expected = [r for r in rows if r.verdict == "expected_fail"]
    if expected:
        pytest.xfail("; ".join(sorted({r.detail.split(" — ")[0] for r in expected})))


def _as_target(adapter: type[Adapter] | str) -> Target:
    if isinstance(adapter, str):
        return registry.load(adapter)
    name = getattr(adapter, "__qualname__", repr(adapter))
    if problem := class_problems(adapter, name):
        raise TargetError(problem)
    return Target(f"{adapter.__module__}:{name}", adapter, f"{adapter.__module__}:{name}")


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
    the default one (``quick`` keeps depth ≤ 2 and batch 4) unless ``cases``
    are given; ``expectations`` are recorded known defects (see
    ``conformance.expectations``). The adapter runs in a worker process when it
    is defined at module level (``isolate=False`` runs it in the test's own
    process). The message of the failure is what ``conformance check`` prints:
    each check family's verdict and, per wrong tensor, the worst element with
    both values and the tolerance. A mistake in the adapter itself (a missing
    method, a wrong signature, unknown capability names) raises ``TargetError``
    saying what the contract expects. If no case of the grid applies, that is a
    failure too. Returns the ``TargetResult`` (its ``rows`` hold every result).
    """
    __tracebackhide__ = True
    target = _as_target(adapter)
    result = check_target(target, cases if cases is not None else default_grid(seed, quick), expectations,
                          isolate, limits)
    if not result.conforms:
        raise AssertionError(render_target(result))
    return result
