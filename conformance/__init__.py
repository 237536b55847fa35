"""A gradient-verification conformance suite for hand-written backpropagation.

Public interface: the adapter contract (``Adapter``, ``Capabilities``,
``Gradients``), the case model (``NetworkSpec``, ``Layer``, ``Case``,
``Params``) and running (``run_case``).
"""

from conformance.adapter import Adapter, Capabilities, Gradients
from conformance.spec import Case, Layer, NetworkSpec, Params

__all__ = ["Adapter", "Capabilities", "Case", "Gradients", "Layer", "NetworkSpec", "Params"]
