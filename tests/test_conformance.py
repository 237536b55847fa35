"""The conformance suite itself: every implementation (``--conformance-impl``) on every case
of the grid, and with ``--benchmark-only`` each one timed next to PyTorch."""

from conformance.suite import test_conforms, test_speed

__all__ = ["test_conforms", "test_speed"]  # collected here
