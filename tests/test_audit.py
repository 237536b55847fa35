"""The mutation self-audit: the suite catches every mutant of the reference, names the bug of
at least 95% of them (for a bug outside the hypothesis library, or a wrong loss value, the
right diagnosis is "unexplained"; for state kept between calls, the contract row), and never fails a
correct implementation; ``conformance audit`` says so."""

from dataclasses import replace

import pytest

from conformance.audit import audit, mutants
from conformance.cli import main
from conformance.audit.mlp_mutants import Mutable
from conformance.audit.expected import UNEXPLAINED, Expected
from conformance.audit.mutants import MUTANTS, Mutant
from conformance.diagnosis.findings import Finding


@pytest.fixture(scope="module", params=[
    pytest.param("smoke", id="the smoke audit"),
    pytest.param("quick", id="the quick audit", marks=pytest.mark.slow),
])
def an_audit(request) -> audit.Audit:
    """The smoke audit (each mutant on the case it shows in: the session's, ``conftest``) in the
    fast tier; the quick audit (every mutant on the quick audit grid, minutes) with the long checks."""
    if request.param == "smoke":
        return request.getfixturevalue("smoke_audit")
    return audit.run_audit(quick=True, jobs=2)


def test_the_audit_catches_every_mutant(an_audit):
    missed = [m.mutant.name for m in an_audit.mutants if not m.caught]
    assert an_audit.kill_rate == 1.0, f"missed: {missed}"
    assert len(an_audit.mutants) == len(MUTANTS) >= 15


def test_the_audit_names_the_bug_of_at_least_19_mutants_in_20(an_audit):
    wrong = {m.mutant.name: m.wrong_example for m in an_audit.mutants if not m.diagnosed_right}
    assert an_audit.accuracy >= 0.95, wrong


def test_the_audit_raises_no_false_alarm_on_the_correct_implementations(an_audit):
    alarms = [a for c in an_audit.correct for a in c.alarms]
    assert an_audit.false_alarms == 0, alarms[:3]
    assert {c.implementation for c in an_audit.correct} == {"reference_numpy", "class_layers", "single_layer_relu"}
    assert all(c.cases_run > 0 for c in an_audit.correct)
    assert {c.dtype for c in audit.false_alarm_grid(quick=True)} == {"float32", "float64"}
    assert {c.dtype for c in audit.false_alarm_grid(smoke=True)} == {"float32", "float64"}


def test_the_audit_passes_and_prints_its_figures(an_audit):
    text = audit.render(an_audit)
    assert an_audit.passed
    assert f"kill rate: 100% ({len(MUTANTS)} of {len(MUTANTS)} mutants caught)" in text
    assert f"diagnosis accuracy: {an_audit.accuracy:.0%}" in text
    assert "false alarms: 0" in text and text.rstrip().endswith("no false alarm)")


@pytest.mark.parametrize("name", [
    pytest.param("last_weight_gradient_from_preactivation", id="a bug outside the hypothesis library"),
    pytest.param("loss_plus_constant", id="a constant added to the loss"),
    pytest.param("cross_entropy_is_sum_of_squared_gradients", id="a cross-entropy with a wrong value"),
])
def test_a_bug_no_hypothesis_describes_is_right_only_when_unexplained(an_audit, name):
    (outside,) = [m for m in an_audit.mutants if m.mutant.name == name]
    assert outside.caught and outside.diagnosed_right, outside.wrong_example
    named = Expected(UNEXPLAINED).met_by((Finding("scaled_gradient", "×2"),), audit.audit_grid()[0])
    assert not named  # naming any cause would have counted wrong


def test_state_kept_between_calls_is_caught_by_the_contract_and_named(an_audit):
    for name in ("accumulates_gradients", "stale_input_cache"):
        (m,) = [m for m in an_audit.mutants if m.mutant.name == name]
        assert m.caught and m.diagnosed_right, m.wrong_example


def test_an_audit_with_a_mutant_that_has_no_bug_fails_on_its_kill_rate():
    harmless = Mutant("no_bug", "the reference itself", Mutable, Expected("scaled_gradient"))
    result = audit.run_audit([replace(harmless, shows_in=MUTANTS[0].shows_in)], smoke=True, correct=())
    assert result.kill_rate == 0.0 and not result.passed
    assert "no_bug  MISSED" in audit.render(result)
    assert "audit: FAIL" in audit.render(result)


def test_conformance_audit_exits_1_when_a_mutant_is_missed(capsys, monkeypatch):
    harmless = Mutant("no_bug", "the reference itself", Mutable, Expected("scaled_gradient"),
                      shows_in=MUTANTS[0].shows_in)
    monkeypatch.setattr(audit, "CORRECT", ())
    monkeypatch.setattr(mutants, "MUTANTS", (harmless,))
    assert main(["audit", "--smoke"]) == 1
    assert "kill rate: 0% (0 of 1 mutants caught)" in capsys.readouterr().out


def test_conformance_audit_exits_0_when_the_audit_passes(capsys, monkeypatch):
    monkeypatch.setattr(audit, "CORRECT", ("single_layer_relu",))
    assert main(["audit", "--smoke", "--mutant", "last_bias_not_summed"]) == 0
    out = capsys.readouterr().out
    assert "last_bias_not_summed" in out and "kill rate: 100%" in out and "audit: PASS" in out
    assert "single_layer_relu: no false alarm" in out


def test_conformance_audit_names_an_unknown_mutant_in_one_line_and_exits_2(capsys):
    assert main(["audit", "--mutant", "no_such_mutant"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("conformance audit: error: no mutant named 'no_such_mutant'; known: ")
    assert len(err.strip().splitlines()) == 1


def test_conformance_audit_lists_the_mutants_with_their_expected_diagnosis(capsys):
    assert main(["audit", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(MUTANTS)
    assert lines[0].startswith("loss_gradient_misses_mean: ") and "expected diagnosis: scaled_gradient" in lines[0]


@pytest.mark.e2e
def test_an_audit_on_two_processes_prints_the_table_of_a_serial_run():
    chosen = [m for m in MUTANTS if m.name in ("first_bias_averaged", "derivative_at_output", "stale_input_cache")]
    cases = audit.audit_grid(quick=True)[::12]
    serial = audit.audit_mutants(chosen, cases)
    pooled, checked = audit._in_pool(2, chosen, cases, ("class_layers",), cases, None)
    assert [(r.cases_run, r.failing, r.right, r.wrong_example) for r in pooled] == \
        [(r.cases_run, r.failing, r.right, r.wrong_example) for r in serial]
    assert any(r.failing for r in serial)
    assert checked == (audit.false_alarms("class_layers", cases),) and checked[0].cases_run > 0


#: Every how many of the whole grid's cases beyond the quick audit's the end-to-end audit takes.
BEYOND_QUICK_EVERY = 50


@pytest.mark.e2e
def test_beyond_the_quick_grid_the_mutants_are_named_as_the_bar_asks_and_nothing_correct_fails():
    """The whole grid's cases neither the smoke nor the quick audit runs (batch 1, depths 1, 2 and
    4, float32 losses, other batches of the layer networks: where sizes coincide and factors
    have several names), a sample: every mutant on two processes, as ``conformance audit`` on the
    whole grid would judge them (a sample need not catch every mutant)."""
    quick = set(audit.audit_grid(quick=True))
    beyond = [c for c in audit.audit_grid() if c not in quick][::BEYOND_QUICK_EVERY]
    results, checked = audit._in_pool(2, MUTANTS, beyond, audit.CORRECT, beyond, None)
    sampled = audit.Audit(tuple(results), checked, len(beyond))
    wrong = {m.mutant.name: m.wrong_example for m in sampled.mutants if m.caught and not m.diagnosed_right}
    assert sampled.accuracy >= audit.ACCURACY_NEEDED, wrong
    assert sampled.false_alarms == 0, [a for c in sampled.correct for a in c.alarms][:3]
    assert sum(m.caught for m in sampled.mutants) >= len(MUTANTS) // 2


def test_a_seed_ports_recorded_defect_is_not_a_false_alarm_but_would_fail_unrecorded():
    from conformance.audit.audit import false_alarms
    from conformance.cases.grid import default_grid
    from conformance.running.driver import Driver
    from conformance.running.targets import load
    from conformance.runner import case_outcome

    [case] = [c for c in default_grid(quick=True)
              if c.id == "3layer-4.5.5.3-relu-identityout-bias-large-b4-float64-softmax_cross_entropy"]
    unrecorded = case_outcome(Driver(load("single_layer_relu")), case).rows
    assert any(r.verdict == "fail" for r in unrecorded)  # the defect shows on this case
    assert false_alarms("single_layer_relu", [case]).alarms == ()


@pytest.mark.parametrize("loss", ["mse", "half_mse", "sse"])
def test_the_sum_of_squares_mutant_reports_a_squared_error_loss_as_it_is(loss):
    """Its bug is the cross-entropy's alone: for a squared-error loss the sum of the squared
    gradient is a constant times the loss, which a factor rightly describes, so it is left."""
    from conformance.cases.layer_data import generate_case
    from conformance.implementations.reference_numpy import ReferenceNumpy
    from conformance.audit.showcases import mlp_case

    case = mlp_case("tanh", loss)
    data = generate_case(case)
    mutant = next(m for m in MUTANTS if m.name == "cross_entropy_is_sum_of_squared_gradients").adapter()()
    reference = ReferenceNumpy()
    for adapter in (mutant, reference):
        adapter.build(case.spec, data.params)
    assert mutant.loss(data.x, data.targets)[0] == reference.loss(data.x, data.targets)[0]
