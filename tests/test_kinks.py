"""The kink guard: rounding bounds that hold, sides that rounding can blur, margins that mean something,
and a shortcut for single entries that agrees with a full forward."""

import numpy as np
import pytest

from conformance.running.driver import Driver
from conformance.oracles.fd_checks import finite_difference_rows
from conformance.oracles.kinks import KinkGuard, rounding_bounds
from conformance.running.targets import Target
from conformance.cases.spec import Case, CaseData, Layer, NetworkSpec, Params
from conformance.cases.mlp_data import generate, preactivations
from conformance.cases.grid import random_cases
from conformance.implementations.reference_numpy import ReferenceNumpy
from tests.near_kink import placed_near_kink


@pytest.mark.parametrize("case", [c for c in random_cases(60, seed=5) if c.dtype == "float32"], ids=lambda c: c.id)
def test_the_rounding_bound_covers_what_a_float32_forward_computes_and_stays_small(case):
    data = generate(case)
    reference = ReferenceNumpy()
    reference.build(case.spec, data.params)
    reference.forward(data.x)
    exact = preactivations(case.spec, data.params, data.x)
    bounds = rounding_bounds(case.spec, data.params, data.x, "float32")
    for computed, z, bound in zip(reference.net.pre, exact, bounds):
        assert np.all(np.abs(computed.astype(np.float64) - z) <= bound)
        assert np.all(bound <= 1e-4 * (1 + np.abs(z)))


@pytest.mark.parametrize("distance, ambiguous", [(1e-9, True), (1e-7, True), (1e-3, False)])
def test_a_float32_pre_activation_within_rounding_of_its_kink_has_no_side(distance, ambiguous):
    case = Case(NetworkSpec.mlp([3, 4, 4, 2], "relu", "identity"), batch=4, dtype="float32")
    guard = KinkGuard.at(placed_near_kink(generate(case), distance).astype("float64"))
    reason = guard.ambiguity()
    assert bool(reason) == ambiguous
    if ambiguous:
        assert "within float32 rounding" in reason and "either side of its kink" in reason


def test_a_pre_activation_held_at_zero_by_a_dead_layer_is_no_margin_and_no_failure():
    spec = NetworkSpec((Layer(3, 4, "relu", bias=True), Layer(4, 3, "relu", bias=False), Layer(3, 2)))
    data = generate(Case(spec, batch=2))
    dead = Params(data.params.weights, (np.full(4, -50.0), None, data.params.biases[2]))
    data = CaseData(data.case, dead, data.x, data.upstream, data.targets)
    guard = KinkGuard.at(data)
    assert np.all(guard.centre[1] == 0) and guard.margin > 1.0
    driver = Driver(Target("reference_numpy", ReferenceNumpy, "test"))
    rows = finite_difference_rows(driver, data, driver.observe(data).gradients)
    assert rows and all(r.verdict == "pass" for r in rows), [r.detail for r in rows]


@pytest.mark.parametrize("sizes, output", [([3, 5, 4, 2], "identity"), ([4, 6, 6, 5, 3], "relu"), ([3, 2], "relu")])
def test_an_entrys_shift_matches_the_whole_forward_along_that_entry(sizes, output):
    data = generate(Case(NetworkSpec.mlp(sizes, "relu", output), batch=4))
    guard = KinkGuard.at(data)
    size = data.flat().size
    for index in range(size):
        for step in (0.03, -0.03, 0.5, -2.0):
            unit = np.zeros(size)
            unit[index] = 1.0
            whole, entry = guard.shift(unit, step), guard.shift(index, step)
            assert (whole is None) == (entry is None), (index, step)
            if whole is not None:
                assert entry == pytest.approx(whole, rel=1e-9, abs=1e-12), (index, step)


def test_a_large_step_on_an_early_weight_is_seen_crossing_a_later_layers_kink():
    data = generate(Case(NetworkSpec.mlp([3, 5, 4, 2], "relu", "identity"), batch=4))
    guard = KinkGuard.at(data)
    first_weight = data.x.size
    assert guard.shift(first_weight, 1e-6) is not None
    assert any(guard.shift(first_weight + k, s) is None for k in range(15) for s in (50.0, -50.0))
