"""The kink guard: rounding bounds that hold, sides that rounding can blur, margins that mean something."""

import numpy as np
import pytest

from conformance.driver import Driver
from conformance.fd_checks import finite_difference_rows
from conformance.kinks import KinkGuard, rounding_bounds
from conformance.registry import Target
from conformance.spec import Case, CaseData, Layer, NetworkSpec, Params, generate, preactivations, random_cases
from implementations.reference_numpy import ReferenceNumpy
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
