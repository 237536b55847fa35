"""The conformance suite as pytest tests: every ``--conformance-impl`` target on every case
of the grid that applies to it, and (with ``--benchmark-only`` and the like) each target's
forward and backward timed next to PyTorch's through pytest-benchmark.

``pytest --conformance-impl TARGET`` collects it by itself wherever no test of
the session takes the ``conformance_case`` argument (e.g. in a plug-in
author's own folder), so the command works outside this project's checkout too.
"""

from conformance.testing import time_case, verify


def test_conforms(conformance_case, conformance_expectations, conformance_isolation, request):
    target, case = conformance_case
    named = bool(request.config.getoption("conformance_impl"))
    verify(target, case, conformance_expectations, conformance_isolation, named)


def test_speed(conformance_timing, benchmark):
    time_case(benchmark, conformance_timing)
