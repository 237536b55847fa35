"""Root pytest configuration: the suite's plugin is loaded here when the project is not installed."""

import importlib.metadata

if not any(ep.value == "conformance.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11")):
    pytest_plugins = ["conformance.pytest_plugin"]
