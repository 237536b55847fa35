"""A gradient-verification conformance suite for hand-written backpropagation.

Public interface: the adapter contract (``Adapter``, ``Capabilities``,
``Gradients``), the case model (``NetworkSpec``, ``Layer``, ``Case``,
``Params``) and running (``run_case``); ``assert_conforms`` checks an
adapter from a test of one's own; ``run`` returns the suite's results as a
pandas DataFrame and ``run_suite`` the whole report (results, timings,
environment; ``.write(folder)``).
"""

from conformance.adapter import Adapter, Capabilities, Gradients
from conformance.spec import Case, Layer, NetworkSpec, Params

__all__ = ["Adapter", "Capabilities", "Case", "Gradients", "Layer", "NetworkSpec", "Params", "assert_conforms",
           "run", "run_suite"]


def __getattr__(name: str):
    # assert_conforms pulls in pytest and the oracle; an adapter's `from conformance import Adapter` need not.
    if name == "assert_conforms":
        from conformance.pytest_plugin import assert_conforms

        return assert_conforms
    if name in ("run", "run_suite"):  # pandas and the oracle, likewise only when asked for
        from conformance import api

        return getattr(api, name)
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")
