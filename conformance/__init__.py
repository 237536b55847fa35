"""A gradient-verification conformance suite for hand-written backpropagation.

Public interface: the adapter contract (``Adapter``, ``Capabilities``,
``Gradients``, ``Conventions``), the case model (``NetworkSpec``, ``Layer``, ``Case``,
``Params``) and running (``run_case``); ``assert_conforms`` checks an
adapter from a test of one's own; ``run`` returns the suite's results as a
pandas DataFrame and ``run_suite`` the whole report (results, timings,
environment; ``.write(folder)``). ``check_function`` and ``assert_gradients`` check any
function with a hand-written backward (``Index``, ``Mask``, ``Constant`` describe inputs
that are not differentiated).

Every name is imported when first asked for: the pytest plugin imports this
package in every pytest run of the environment, and must not pull in NumPy,
PyTorch or pandas there.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checkers and editors; "X as X" marks a name as re-exported
    from conformance.api import run as run, run_suite as run_suite
    from conformance.cases.spec import Case as Case, Layer as Layer, NetworkSpec as NetworkSpec, Params as Params
    from conformance.contract.adapter import Adapter as Adapter, Capabilities as Capabilities, Gradients as Gradients
    from conformance.cases.conventions import Conventions as Conventions
    from conformance.runner import run_case as run_case
    from conformance.testing import assert_conforms as assert_conforms
    from conformance.functions.check import assert_gradients as assert_gradients, check_function as check_function
    from conformance.functions.inputs import Constant as Constant, Index as Index, Mask as Mask

#: Where each public name lives.
_HOMES = {
    "Adapter": "conformance.contract.adapter", "Capabilities": "conformance.contract.adapter",
    "Gradients": "conformance.contract.adapter", "Case": "conformance.cases.spec", "Layer": "conformance.cases.spec",
    "NetworkSpec": "conformance.cases.spec", "Params": "conformance.cases.spec", "run_case": "conformance.runner",
    "assert_conforms": "conformance.testing", "run": "conformance.api", "run_suite": "conformance.api",
    "check_function": "conformance.functions.check", "assert_gradients": "conformance.functions.check",
    "Index": "conformance.functions.inputs", "Mask": "conformance.functions.inputs",
    "Constant": "conformance.functions.inputs", "Conventions": "conformance.cases.conventions",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    if name == "__version__":  # read when asked: importing importlib.metadata costs every worker 30 ms
        from importlib import metadata

        try:
            return metadata.version("backprop-conformance")
        except metadata.PackageNotFoundError:  # a source checkout that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")
