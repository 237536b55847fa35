"""A padded average pool that divides each window by its elements inside the input
(``count_include_pad=False``) follows a convention: declared, it conforms; undeclared, it gets
the convention verdict with the convention named, and fails where no other convention is
accepted; a backward that counts the padding otherwise than its own forward is a bug, named at
the pool, under either convention."""

from dataclasses import replace

import pytest

from conformance.audit import layer_mutants, sequence_mutants
from conformance.cases.conventions import Conventions, used_by
from conformance.cases.grid import default_grid
from conformance.diagnosis.findings import matches
from conformance.reporting.verdicts import TargetResult, convention_line
from conformance.runner import case_outcome
from conformance.running.driver import Driver
from conformance.running.replies import capabilities_reply
from conformance.running.targets import Target
from conformance.running.worker import describe_loaded
from conformance.settings import Checks

EXCLUDED = Conventions(avgpool_count_include_pad=False)
WORDS = "padded average pools dividing by the window's elements inside the input (count_include_pad=False)"
#: The quick grid's cases with a padded average pool (alone and inside a network), both dtypes.
CASES = [c for c in default_grid(quick=True) if "avgpool" in used_by(c.spec)]


def _adapter(name: str, layer: type, conventions: Conventions | None = None):
    base = sequence_mutants.adapter(name, name, kind="avgpool2d", layer=layer)
    if conventions is None:
        return base
    return type(f"{name}_declared", (base,), {"capabilities": replace(base.capabilities, conventions=conventions)})


def _result(adapter, checks: Checks = Checks()) -> TargetResult:
    driver = Driver(Target(adapter.name, adapter, "test"))
    rows = tuple(r for case in CASES for r in case_outcome(driver, case, checks=checks).rows)
    return TargetResult(adapter.name, adapter.name, rows, cases=len(CASES))


def _unexpected(result: TargetResult) -> list[str]:
    return [f"{r.case} {r.check} {r.tensor}: {r.message}" for r in result.rows if r.unexpected]


def test_the_grid_has_padded_average_pools_in_both_dtypes_alone_and_in_a_network():
    assert {c.dtype for c in CASES} == {"float64", "float32"}
    assert {len(c.spec.layers) > 1 for c in CASES} == {True, False}


def test_undeclared_it_is_another_convention_named():
    result = _result(_adapter("excluded", layer_mutants.AvgPoolExcludesPadding))
    assert not _unexpected(result), _unexpected(result)
    assert result.verdict == "other convention", result.verdict
    assert f"{WORDS} reproduces it" in convention_line(result), convention_line(result)


def test_declared_the_same_code_conforms():
    result = _result(_adapter("excluded", layer_mutants.AvgPoolExcludesPadding, EXCLUDED))
    assert not _unexpected(result), _unexpected(result)
    assert result.verdict == "pass" and not any(r.fitted for r in result.rows)
    assert WORDS in convention_line(result), convention_line(result)


def test_where_no_other_convention_is_accepted_the_forward_fails_with_the_convention_named():
    result = _result(_adapter("excluded", layer_mutants.AvgPoolExcludesPadding), Checks(other_convention="fail"))
    forward = [r for r in result.rows if r.check == "forward"]
    assert {r.verdict for r in forward} == {"fail"}
    assert all(f"its forward follows {WORDS}, not PyTorch's meaning" in r.diagnosis for r in forward)


def test_declared_but_not_followed_is_pytorchs_own_meaning_named():
    result = _result(_adapter("included", layer_mutants.PoolLayer, EXCLUDED))
    assert not _unexpected(result), _unexpected(result)
    assert result.verdict == "other convention", result.verdict


@pytest.mark.parametrize("layer, conventions", [
    pytest.param(layer_mutants.AvgPoolBackwardCountsPadding, None, id="padding excluded forward, counted backward"),
    pytest.param(layer_mutants.AvgPoolBackwardCountsPadding, EXCLUDED, id="the same with the convention declared"),
])
def test_a_backward_counting_the_padding_otherwise_than_its_forward_is_named_at_the_pool(layer, conventions):
    adapter = _adapter("counted", layer, conventions)
    for case in CASES:
        outcome = case_outcome(Target("counted", adapter, "test"), case)
        assert any(r.unexpected for r in outcome.rows), case.id
        pools = tuple(i for i, kind in enumerate(case.spec.kinds) if kind == "avgpool2d")
        assert matches(outcome.diagnosis.names(), "avgpool_backward_other_padding_count", pools), \
            outcome.diagnosis.line()
        assert "divides each window's gradient by k² = 9, padding included, where its forward divides by the " \
               "window's elements inside the input" in outcome.diagnosis.line()


def test_the_declared_convention_crosses_the_wire_and_refuses_a_number():
    adapter = _adapter("excluded", layer_mutants.AvgPoolExcludesPadding, EXCLUDED)
    plain = describe_loaded(adapter)["capabilities"]
    assert capabilities_reply(plain).conventions == EXCLUDED
    with pytest.raises(ValueError, match="avgpool_count_include_pad must be True or False"):
        Conventions(avgpool_count_include_pad=0)
