"""Round trips between the grader and an implementation: every point a case's finite-difference
checks probe in one request (every iteration of every estimate, and the centre), and
``supports`` for a whole grid in one request per target, with the same rows as when each was
asked on its own; a batched reply that is not one float64 array per probe, of its shape, is
refused in one line."""

import numpy as np
import pytest
from faulty.adapters import Doubled
from helpers import PINNED

from conformance.cases.grid import default_grid
from conformance.cases.mlp_data import generate
from conformance.cases.spec import Case, NetworkSpec
from conformance.implementations.reference_numpy import ReferenceNumpy
from conformance.oracles.fd_scheme import Settings, nested
from conformance.oracles.finite_difference import FiniteDifferences, directions
from conformance.oracles.fd_checks import finite_difference_rows
from conformance.runner import Checks, case_data, oracle, run_case
from conformance.running.driver import Driver, ImplementationFault, Probe
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


class AskedAheadRefused(Counting):
    """Counting, whose first ``evaluate`` faults: the checks then ask for their own points, one
    request per estimate, as before a case's points were asked ahead."""

    def evaluate(self, data, probes):
        if "evaluate" not in self.asked:
            self.asked.append("evaluate")
            raise ImplementationFault("not this time")
        return super().evaluate(data, probes)


def fd_rows(driver, case, settings=Settings()):
    """The finite-difference rows of ``case``, observed with ``driver``."""
    seen = driver.observe(case_data(case))
    return finite_difference_rows(driver, case_data(case), seen.gradients, oracle(case).gradients, settings,
                                  output=seen.output)


TARGETS = [pytest.param(Target("reference", ReferenceNumpy, "tests"), id="a correct implementation"),
           pytest.param(Target("doubled", Doubled, "tests"), id="an implementation with a doubled gradient")]
LARGE = Settings(large_case=1)  # every case probes one entry per tensor, all along one sparse direction first


@pytest.mark.parametrize("target, case", [
    pytest.param(t.values[0], c, id=f"{t.id} on {c.id}") for t in TARGETS for c in PINNED
    if isinstance(c.spec, NetworkSpec) or t.values[0].adapter is not Doubled])  # Doubled's backward is an MLP's
def test_a_cases_finite_differences_ask_once_with_the_rows_of_asking_per_estimate(target, case):
    """One request for every planned point; a wrong gradient one more, for the entries of the
    tensors whose entries, probed together, disagreed (then probed one by one)."""
    batched, alone = Counting(target), AskedAheadRefused(target)
    rows = fd_rows(batched, case)
    requests = 2 if target.adapter is Doubled else 1
    assert batched.asked.count("evaluate") == requests, f"{requests} request(s) for every point, got {batched.asked}"
    assert rows == fd_rows(alone, case), "the rows differ from those of one request per estimate"
    assert alone.asked.count("evaluate") > 2, "the estimates did not ask for their own points"


@pytest.mark.parametrize("target, requests", [
    pytest.param(TARGETS[0].values[0], 1, id="a correct implementation: its sparse direction agrees, one request"),
    pytest.param(TARGETS[1].values[0], 2, id="a doubled gradient: its entries are then probed one by one"),
])
def test_a_large_cases_entries_are_asked_again_only_when_their_sparse_direction_disagrees(target, requests):
    case = PINNED[0]
    batched, alone = Counting(target), AskedAheadRefused(target)
    rows = fd_rows(batched, case, LARGE)
    assert batched.asked.count("evaluate") == requests, batched.asked
    assert rows == fd_rows(alone, case, LARGE)
    entry = {r.tensor: r.verdict for r in rows if r.check == "fd_entry"}
    assert entry["weight[0]"] == ("pass" if requests == 1 else "fail"), entry


class Replying(WorkerDriver):
    """A worker's driver whose ``evaluate`` replies are ``answer(probes, the honest values)``,
    read back and validated as a worker's (no process is started)."""

    def __init__(self, answer):
        self.honest = Driver(Target("reference", ReferenceNumpy, "tests"))
        super().__init__(self.honest.target)
        self.answer = answer

    @property
    def capabilities(self):
        return self.honest.capabilities

    def observe(self, data):
        return self.honest.observe(data)

    def _call(self, method, max_bytes, data, probes):
        assert method == "evaluate"
        return self.answer(probes, self.honest.evaluate(data, probes))


def _at_steps(probes, values, keep):
    return [np.where(keep(np.asarray(p.steps)), v, np.nan) for p, v in zip(probes, values)]


@pytest.mark.parametrize("answer, words", [
    pytest.param(lambda p, v: v[:-1], "the objective values must be", id="one array fewer than the probes asked"),
    pytest.param(lambda p, v: v + [v[0]], "the objective values must be", id="an array more than the probes asked"),
    pytest.param(lambda p, v: [v[0][:-1]] + v[1:], "must be a float64 array of shape", id="an array of another shape"),
    pytest.param(lambda p, v: [x.astype(np.float32) for x in v], "must be a float64 array", id="float32 values"),
    pytest.param(lambda p, v: ["12.5"] + v[1:], "got str", id="text in place of values"),
    pytest.param(lambda p, v: {"values": v}, "got no list", id="no list at all"),
])
def test_a_batched_reply_that_is_not_one_float64_array_per_probe_is_refused_in_one_line(answer, words):
    driver, case = Replying(answer), PINNED[0]
    probes = [Probe(0, np.zeros(1)), Probe(3, np.array([-0.1, 0.1, -0.05, 0.05])), Probe(1, np.array([0.2]))]
    with pytest.raises(ImplementationFault) as refused:
        driver.evaluate(case_data(case), probes)
    assert str(refused.value).startswith("the worker sent a malformed reply: ") and words in str(refused.value)
    rows = fd_rows(driver, case)
    assert {r.check for r in rows} == {"fd_directional", "fd_entry"}
    for r in rows:
        assert r.verdict == "error" and words in r.detail and "\n" not in r.detail, (r.check, r.verdict, r.detail)


@pytest.mark.parametrize("answer, words", [
    pytest.param(lambda p, v: _at_steps(p, v, lambda s: s == 0), "the objective is not finite at points within",
                 id="NaN at every point but the case's own"),
    pytest.param(lambda p, v: _at_steps(p, v, lambda s: s != 0), "the objective is nan at the case's point",
                 id="NaN at the case's point"),
])
def test_nan_objective_values_in_a_batched_reply_are_refused_in_one_line_naming_where(answer, words):
    rows = fd_rows(Replying(answer), PINNED[0])
    directional = next(r for r in rows if r.check == "fd_directional")
    assert directional.verdict == "error" and words in directional.detail, directional.detail
    for r in rows:
        assert r.verdict == "error" and "\n" not in r.detail and ("finite" in r.detail or "nan" in r.detail), r.detail
