"""The conformance suite as a pytest test: every ``--impl`` target on every case of the grid.

``pytest --impl TARGET`` collects it by itself wherever no test of the
session takes the ``conformance_case`` fixture (e.g. in a plug-in author's own
folder), so the command works outside this project's checkout too.
"""

from conformance.pytest_plugin import verify


def test_conforms(conformance_case, conformance_expectations, conformance_isolation):
    target, case = conformance_case
    verify(target, case, conformance_expectations, conformance_isolation)
