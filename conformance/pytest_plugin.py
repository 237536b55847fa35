"""The pytest plugin: ``--conformance-impl``, ``--conformance-grid``, ``--conformance-seed``,
``--conformance-no-isolation``, the parametrized conformance test and its timing next to
PyTorch, and ``assert_conforms`` for a user's own tests.

pytest loads this module in every project of the environment where the suite
is installed, so it imports nothing heavy: NumPy, PyTorch, pandas and the
harness (``conformance.testing``) are imported only when a test of the suite
is collected. Its options all start with ``--conformance-``, so a project
with options of its own (``--seed``, ``--grid``) keeps them.

Any test that takes the ``conformance_case`` argument is run once per
implementation × applicable case, with ids like
``reference_numpy-3layer-tanh-bias-b4-float64-vjp``; the cases an
implementation does not support are not collected (one line says how many).
A test that takes ``conformance_timing`` and pytest-benchmark's
``benchmark`` times each implementation next to PyTorch, collected only when
benchmarks are asked for (``--benchmark-only``, ``--benchmark-json``,
``--benchmark-save``, ``--benchmark-autosave``, ``--benchmark-compare``).

``pytest --conformance-impl TARGET`` runs that suite on a plug-in (a file, a
folder, a glob, ``module:Class`` or an installed entry point's name); a test
of one's own calls ``assert_conforms(MyAdapter)`` instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance.cases.grids import GRIDS

if TYPE_CHECKING:
    from conformance.running.targets import Target

#: pytest-benchmark's options that ask for measurements (their ``dest`` names).
BENCHMARK_OPTIONS = ("benchmark_only", "benchmark_json", "benchmark_save", "benchmark_autosave",
                     "benchmark_compare")


def _seed(text: str) -> int:
    import argparse

    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--conformance-seed must be a whole number ≥ 0, got {text!r}")
    return int(text)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "backprop conformance suite")
    group.addoption("--conformance-impl", action="append", default=[], metavar="TARGET", dest="conformance_impl",
                    help="implementation to check: a built-in name, path/to/file.py[:Class], a folder or glob "
                         "of such files, module:Class or an installed entry point's name "
                         "(repeatable; default: every built-in)")
    group.addoption("--conformance-grid", choices=GRIDS, default="full", dest="conformance_grid",
                    help="case grid: full (default), quick (as `conformance run --quick`: every network "
                         "kind and mode on fewer networks) or smoke (one network per kind and mode, a third of "
                         "the layer networks: the project's own fast tests)")
    group.addoption("--conformance-seed", type=_seed, default=0, metavar="S", dest="conformance_seed",
                    help="seed of the generated case data (default 0)")
    group.addoption("--conformance-no-isolation", action="store_true", dest="conformance_no_isolation",
                    help="run implementations in the test process instead of one worker process each")


_TARGETS = pytest.StashKey[list]()
_EXCLUDED = pytest.StashKey[dict]()
#: Targets that could not be loaded while tests were generated: one usage error after collection.
_UNLOADABLE = pytest.StashKey[dict]()


def pytest_configure(config: pytest.Config) -> None:
    """Load the ``--conformance-impl`` targets up front, so a bad one is a usage error of one line."""
    config.stash[_EXCLUDED] = {}
    config.stash[_UNLOADABLE] = {}
    if config.getoption("conformance_impl", default=None):
        config.stash[_TARGETS] = _loaded(config.getoption("conformance_impl"))


def _loaded(names: list[str]) -> list[Target]:
    from conformance.running import targets as registry

    loaded = registry.load_all(names)
    if bad := [item.reason for item in loaded if isinstance(item, registry.Unloadable)]:
        raise pytest.UsageError("\n".join(bad))
    return loaded


def _targets(config: pytest.Config) -> list[Target]:
    if _TARGETS not in config.stash:
        from conformance.running import targets as registry

        config.stash[_TARGETS] = _loaded(registry.builtin_names())
    return config.stash[_TARGETS]


def benchmarking(config: pytest.Config) -> bool:
    """Whether pytest-benchmark was asked for measurements in this run."""
    return any(config.getoption(name, default=None) for name in BENCHMARK_OPTIONS)


def _case_params(config: pytest.Config) -> tuple[list, list[str]]:
    from conformance.running import targets as registry
    from conformance import testing

    cases = testing.grid(config.getoption("conformance_grid"), config.getoption("conformance_seed"))
    params, ids = [], []
    for target in _targets(config):
        try:
            fit = testing.applicable(target, cases, not config.getoption("conformance_no_isolation"))
        except registry.TargetError as error:
            # raised here, it would be a collection error with pytest's traceback: said once, after collection
            config.stash[_UNLOADABLE][target.name] = str(error)
            continue
        config.stash[_EXCLUDED][target.name] = fit.excluded
        if not fit.cases:
            params.append((target, None))
            ids.append(f"{target.name}-no-applicable-case")
        params += [(target, case) for case in fit.cases]
        ids += [f"{target.name}-{case.id}" for case in fit.cases]
    return params, ids


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if "conformance_case" in metafunc.fixturenames:
        params, ids = _case_params(config)
        metafunc.parametrize("conformance_case", params, ids=ids)
    if "conformance_timing" in metafunc.fixturenames:
        if not benchmarking(config):  # deselected below: no test, no `s`
            metafunc.parametrize("conformance_timing", [None], ids=["not-benchmarking"])
            return
        from conformance import testing

        cases = testing.grid(config.getoption("conformance_grid"), config.getoption("conformance_seed"))
        timings = testing.timing_params(_targets(config), cases,
                                        nothing_judged=bool(config.getoption("benchmark_only", default=False)))
        metafunc.parametrize("conformance_timing", timings, ids=[f"{t.name}-{t.label}" for t in timings])


def _suite_module(session: pytest.Session) -> pytest.Module:
    """The shipped suite as a test module whose node id is its path as seen from the folder
    pytest was started in, so that a failing test's id can be pasted back into ``pytest``."""
    from conformance import suite

    path = Path(suite.__file__).resolve()
    nodeid = os.path.relpath(path, session.config.invocation_params.dir)
    if nodeid.startswith(".."):  # outside the folder: the absolute path reads from anywhere
        nodeid = str(path)
    return pytest.Module.from_parent(session, path=path, nodeid=nodeid.replace(os.sep, "/"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--conformance-impl`` and no test of the session running the suite, run the
    shipped one; timing tests go unless benchmarks were asked for."""
    def uses(item, name):
        return name in getattr(item, "fixturenames", ())
    if config.getoption("conformance_impl") and not any(uses(i, "conformance_case") for i in items):
        items.extend(session.genitems(_suite_module(session)))
    if unloadable := config.stash.get(_UNLOADABLE, {}):
        raise pytest.UsageError("\n".join(unloadable.values()))
    # the kind of test this run does not ask for is deselected rather than skipped case by case
    unwanted = "conformance_case" if config.getoption("benchmark_only", default=False) else \
        None if benchmarking(config) else "conformance_timing"
    if unwanted and (dropped := [i for i in items if uses(i, unwanted)]):
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if not uses(i, unwanted)]


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    """One line: how many implementation × case pairs were not collected, and why."""
    excluded = {name: n for name, n in config.stash.get(_EXCLUDED, {}).items() if n}
    if not excluded:
        return []
    each = ", ".join(f"{name} {n}" for name, n in excluded.items())
    return [f"conformance: {sum(excluded.values())} cases not collected, their implementation does not "
            f"support them ({each}; reasons: `conformance list`)"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    if "conformance.testing" in sys.modules:
        sys.modules["conformance.testing"].close_drivers()


@pytest.fixture(scope="session")
def conformance_isolation(request: pytest.FixtureRequest) -> bool:
    return not request.config.getoption("conformance_no_isolation", default=False)


@pytest.fixture(scope="session")
def conformance_expectations() -> tuple:
    from conformance.judge import expectations

    return expectations.load()


def __getattr__(name: str) -> Any:
    # verify and assert_conforms live with the heavy imports; they are found here as before.
    if name in ("verify", "assert_conforms", "applicable"):
        from conformance import testing

        return getattr(testing, name)
    raise AttributeError(f"module 'conformance.pytest_plugin' has no attribute {name!r}")
