"""The grids' names, the same words for ``conformance run --grid`` and ``--conformance-grid``.

Imports nothing: the pytest plugin reads it in every project of the environment."""

#: The grids by name.
GRIDS = ("full", "quick", "smoke")
