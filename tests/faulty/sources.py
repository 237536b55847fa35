"""Plug-in files as a user writes them: faulty adapters of ``faulty.adapters`` written out as
the one file a user would hand in, for the tests that write them to disk and check them by path."""

import inspect

from tests.faulty import adapters

HEADER = """\
from conformance import Capabilities, Gradients
from conformance.implementations.reference_numpy import ReferenceNumpy
"""


def plug_in(adapter: type) -> str:
    """The source of one file holding ``adapter`` and the imports it needs."""
    return f"{HEADER}\n\n{inspect.getsource(adapter)}"


def line_of(source: str, text: str) -> int:
    """The number of the first line of ``source`` holding ``text``."""
    return next(number for number, line in enumerate(source.splitlines(), 1) if text in line)


#: The first weight gradient doubled: one wrong tensor, everything else right.
DOUBLED = plug_in(adapters.Doubled)
#: Every weight gradient transposed (a square layer's has the right shape).
TRANSPOSED = plug_in(adapters.WrongShape)
#: Raises in backward.
RAISES = plug_in(adapters.Raises)
#: Supports no case of the grid.
NARROW = plug_in(adapters.Narrow)
