"""Hand-written cores in other styles (``faulty/unstable.py``): each correct one conforms on the
large-magnitude cases, and its twin with a classic stability bug fails there with the cause named."""

from __future__ import annotations

import pytest

from conformance.cases.grid import default_grid
from conformance.runner import case_outcome
from conformance.running.driver import Driver
from conformance.running.targets import Target

from faulty.unstable import PAIRS


def _outcomes(adapter):
    driver = Driver(Target(adapter.name, adapter, "test"))
    found = [case_outcome(driver, case) for case in default_grid(quick=True) if case.large]
    return [o for o in found if any(r.verdict != "not_applicable" for r in o.rows)]


@pytest.mark.parametrize("correct, buggy, kinds", [pytest.param(*p, id=p[0].name) for p in PAIRS])
def test_a_stable_core_conforms_and_its_naive_twin_fails_with_the_cause_named(correct, buggy, kinds):
    ran = _outcomes(correct)
    assert ran, f"{correct.name} runs no large case"
    assert not [r.message for o in ran for r in o.rows if r.unexpected]
    failing = [o for o in _outcomes(buggy) if any(r.unexpected for r in o.rows)]
    assert failing, f"{buggy.name} conforms on the large cases"
    for outcome in failing:
        named = {f.kind for f in outcome.diagnosis.names()}
        assert named & kinds, f"{outcome.rows[0].case}: {outcome.diagnosis.line()}"


def test_the_implementations_overflow_warning_is_reported_on_its_row():
    from faulty.unstable import NaiveFloat32Adapter

    rows = [r for o in _outcomes(NaiveFloat32Adapter) for r in o.rows if r.check == "contract"]
    assert any("the implementation warned: overflow encountered in exp" in r.detail for r in rows)
