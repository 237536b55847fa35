"""The conformance suite itself: every implementation (``--impl``) on every case of the grid."""

from conformance.pytest_plugin import verify


def test_conforms(conformance_case, conformance_expectations, conformance_isolation):
    target, case = conformance_case
    verify(target, case, conformance_expectations, conformance_isolation)
