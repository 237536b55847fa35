"""Round trips between the grader and an implementation: every iteration of a finite-difference
estimate in one request, and ``supports`` for a whole grid in one request per target, with the
same rows as when each was asked on its own."""

import numpy as np
import pytest

from conformance.cases.grid import default_grid
from conformance.cases.mlp_data import generate
from conformance.cases.spec import Case, NetworkSpec
from conformance.implementations.reference_numpy import ReferenceNumpy
from conformance.oracles.fd_scheme import Settings, nested
from conformance.oracles.finite_difference import FiniteDifferences, directions
from conformance.runner import Checks, run_case
from conformance.running.driver import Driver, Probe
from conformance.running.isolation import WorkerDriver
from conformance.running.limits import Limits
from conformance.running.targets import Target

CASE = Case(NetworkSpec.mlp([3, 4, 2], "tanh"), batch=4)


class Counting(Driver):
    """The in-process driver, counting the requests it serves."""

    def __init__(self, target):
        super().__init__(target)
        self.asked: list[str] = []

    def evaluate(self, data, probes):
        self.asked.append("evaluate")
        return super().evaluate(data, probes)

    def supports(self, case):
        self.asked.append("supports")
        return super().supports(case)


@pytest.mark.parametrize("iterations", [pytest.param(2, id="with two step sizes"),
                                        pytest.param(4, id="with four step sizes, nested stopping early")])
def test_an_estimate_asks_once_for_every_iteration_and_matches_asking_per_iteration(iterations):
    data = generate(CASE)
    settings = Settings(iterations=iterations)
    driver = Counting(Target("reference", ReferenceNumpy, "tests"))
    fd = FiniteDifferences(driver, data, settings)
    vectors = directions(fd.data, 3)
    batched = fd.along(vectors)
    assert driver.asked.count("evaluate") == 2, f"the centre and one request, got {driver.asked}"
    scheme = settings.scheme("directional", fd.objective_dtype)
    steps = np.array([e.step for e in batched.estimates])
    one_by_one = Driver(Target("reference", ReferenceNumpy, "tests"))
    df, error, _ = nested(lambda asked: [np.asarray(v, dtype=np.float64) for v in one_by_one.evaluate(
        fd.data, [Probe(p, s) for p, s in asked])],
        list(vectors), steps, scheme, fd.centre())
    for k, estimate in enumerate(batched.estimates):
        assert estimate.derivative == df[k], (f"direction {k}: batched {estimate.derivative!r}, "
                                              f"per iteration {df[k]!r}")


@pytest.mark.e2e
def test_a_worker_is_asked_supports_once_for_the_whole_grid_with_the_same_rows():
    cases = default_grid(quick=True)
    target = Target("reference", ReferenceNumpy, "tests")
    limits = Limits(timeout_s=120.0, memory_mb=1536)
    checks = Checks(finite_differences=False, torch=False)
    alone = Counting(target)
    with WorkerDriver(target, limits) as ahead:
        requests = []
        real = ahead._call
        ahead._call = lambda method, *rest: requests.append(method) or real(method, *rest)
        ahead.expect(cases)
        planned = [ahead.supports(case) for case in cases]
        asked = [alone.supports(case) for case in cases]
        assert planned == asked, "the reasons asked ahead differ from those asked case by case"
        assert requests.count("supports") == 0
        assert requests.count("supports_each") == -(-len(cases) // 400), requests
        first = next(c for c, reason in zip(cases, planned) if reason is None)
        assert run_case(ahead, first, checks=checks) == run_case(alone, first, checks=checks)
