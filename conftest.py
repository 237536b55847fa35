"""Root pytest configuration: the suite's plugin is loaded here when the project is not installed,
and the project's own tests run the per-case suite on the smoke grid unless a grid is named."""

import importlib.metadata
import os

import pytest

if not any(ep.value == "conformance.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11")):
    pytest_plugins = ["conformance.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    """The smoke grid for this project's tests. Not when a plug-in is checked (``--conformance-impl``):
    a user's failing test id, pasted back with this checkout's path, makes this folder the rootdir,
    and the id names a case of the grid the user ran (the plug-in's default, the whole grid).

    On the smoke grid (the fast tier) the bundled implementations, the project's own code, run in
    this process: starting a sandboxed worker for each and a round trip per request cost the tier
    about 5 s. On a grid named on the command line (the end-to-end tier runs the quick grid) each
    runs in its sandboxed worker, as any target does."""
    args = [*config.invocation_params.args, *os.environ.get("PYTEST_ADDOPTS", "").split()]
    named = any(arg.split("=")[0] == "--conformance-grid" for arg in args)
    if not named and not config.getoption("conformance_impl", default=None):
        config.option.conformance_grid = "smoke"
        config.option.conformance_no_isolation = True
