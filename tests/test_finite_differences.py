"""The finite-difference checks on their own (PyTorch switched off): wrong backwards fail
and are located; correct ReLU networks near their kinks never fail."""

import re

import numpy as np
import pytest

from conformance.running.driver import Driver
from conformance.oracles.fd_checks import finite_difference_rows
from conformance.oracles.kinks import KinkGuard
from conformance.oracles.fd_scheme import Settings
from conformance.oracles.finite_difference import FiniteDifferences, flat_offsets
from conformance.running.targets import Target
from conformance.runner import Checks, run_case
from conformance.cases.spec import Case, NetworkSpec
from conformance.cases.mlp_data import generate
from conformance.implementations.reference_numpy import ReferenceNumpy
from tests.faulty.wrong_gradients import DoubledBackward, TransposedSquareWeight, float32_only
from tests.near_kink import placed_near_kink

FINITE_DIFFERENCES_ONLY = Checks(torch=False)


#: (case dtype, adapter maker): float64 throughout; a float32 case differentiated in
#: float64 (the implementation accepts it); a float32-only implementation differentiated in float32.
PRECISIONS = {
    "float64": ("float64", lambda a: a),
    "float32-case": ("float32", lambda a: a),
    "float32-only-implementation": ("float32", float32_only),
}

ENTRY = re.compile(r"^(?P<tensor>\w+\[?\d*\]?)\[(?P<index>[\d, ]+)\]: got (?P<got>\S+), finite difference "
                   r"(?P<fd>\S+) \(\|error\| (?P<error>\S+) exceeds tolerance (?P<tol>[^;]+);")
#: Why an estimate near a kink is left out: its stencil crosses the kink, or the case's point
#: is so close to it that the gradient, computed in the case's dtype, may be on either side.
KINK_REASON = re.compile(r"crosses its kink|either side of its kink")
DIRECTION = re.compile(r"^direction \d of \d: v·grad (?P<got>\S+), derivative along v (?P<fd>\S+) "
                       r"\(\|error\| (?P<error>\S+) exceeds tolerance (?P<tol>[^;]+);")


def target(adapter: type) -> Target:
    return Target(adapter.name, adapter, "test")


def fd_rows(adapter: type, case: Case):
    rows = run_case(target(adapter), case, checks=FINITE_DIFFERENCES_ONLY)
    assert not [r for r in rows if r.check in ("forward", "gradient", "loss")], "PyTorch was asked"
    return {(r.check, r.tensor): r for r in rows if r.check.startswith("fd_")}


def true_gradients(case: Case) -> dict[str, np.ndarray]:
    data = generate(case)
    adapter = ReferenceNumpy()
    adapter.build(case.spec, data.params)
    adapter.forward(data.x)
    return adapter.backward(data.upstream).tensors()


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_a_backward_off_by_a_factor_of_two_fails_every_finite_difference_check_without_pytorch(precision, activation):
    dtype, make = PRECISIONS[precision]
    case = Case(NetworkSpec.mlp([3, 4, 4, 2], activation, "identity"), batch=4, dtype=dtype)
    rows = fd_rows(make(DoubledBackward), case)
    tensors = generate(case).tensors()
    assert set(rows) == {("fd_directional", "*")} | {("fd_entry", t) for t in tensors}
    assert all(r.verdict == "fail" for r in rows.values()), [r.detail for r in rows.values() if r.verdict != "fail"]
    for (check, tensor), r in rows.items():
        found = (DIRECTION if check == "fd_directional" else ENTRY).match(r.detail)
        assert found, r.detail
        got, fd, tol = float(found["got"]), float(found["fd"]), float(found["tol"])
        assert got == pytest.approx(2 * fd, rel=1e-2, abs=tol), r.detail
        assert abs(got - fd) > tol
        if check == "fd_entry":
            assert found["tensor"] == tensor and r.worst_index == f"[{found['index']}]"


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_a_transposed_gradient_of_a_square_weight_fails_and_names_the_swapped_element(precision, activation):
    dtype, make = PRECISIONS[precision]
    case = Case(NetworkSpec.mlp([3, 4, 4, 2], activation, "identity"), batch=4, dtype=dtype)
    rows = fd_rows(make(TransposedSquareWeight), case)
    failed = {key for key, r in rows.items() if r.verdict == "fail"}
    assert failed == {("fd_directional", "*"), ("fd_entry", "weight[1]")}, {k: rows[k].detail for k in failed}
    found = ENTRY.match(rows["fd_entry", "weight[1]"].detail)
    i, j = (int(k) for k in found["index"].split(","))
    truth = true_gradients(case)["weight[1]"]
    assert i != j
    assert float(found["got"]) == pytest.approx(truth[j, i], rel=1e-6)
    assert float(found["fd"]) == pytest.approx(truth[i, j], rel=1e-3, abs=float(found["tol"]))


def near_kink_rows(adapter: type, distance: float, dtype: str = "float32"):
    """Finite-difference rows of a ReLU case whose nearest pre-activation is ``distance`` from its kink."""
    case = Case(NetworkSpec.mlp([3, 4, 4, 2], "relu", "identity"), batch=4, dtype=dtype)
    data = placed_near_kink(generate(case), distance)
    driver = Driver(target(adapter))
    return data, finite_difference_rows(driver, data, driver.observe(data).gradients)


@pytest.mark.parametrize("make", [lambda a: a, float32_only], ids=["float32-case", "float32-only-implementation"])
@pytest.mark.parametrize("distance", [1e-2, 1e-3, 1e-4, 1e-5, 1e-7, 1e-9])
def test_a_correct_float32_relu_network_near_its_kinks_never_fails(make, distance):
    data, rows = near_kink_rows(make(ReferenceNumpy), distance)
    margin = KinkGuard.at(data.astype("float64")).margin
    assert margin == pytest.approx(distance, abs=4 * float(np.finfo(np.float32).eps))  # the bias is rounded to float32
    assert {r.verdict for r in rows} <= {"pass", "not_applicable"}, [r.detail for r in rows if r.verdict != "pass"]
    for r in rows:
        assert f"ReLU margin {margin:.3g}" in r.detail
        if r.verdict == "not_applicable":
            assert KINK_REASON.search(r.detail), r.detail


@pytest.mark.parametrize("distance", [3e-4, 1e-4])
def test_a_step_that_would_cross_a_kink_is_shrunk_and_the_estimate_still_judges(distance):
    _, rows = near_kink_rows(ReferenceNumpy, distance, "float64")
    directional = next(r for r in rows if r.check == "fd_directional")
    first_step = Settings().scheme("directional", "float64").initial_step
    steps = [float(s) for s in re.findall(r"steps? ([\d.e-]+)(?:\.\.([\d.e-]+))?", directional.detail)[0] if s]
    assert directional.verdict == "pass" and min(steps) < first_step, directional.detail
    _, wrong = near_kink_rows(DoubledBackward, distance, "float64")
    assert next(r for r in wrong if r.check == "fd_directional").verdict == "fail"


def test_a_stencil_that_would_cross_a_kink_is_not_applicable_with_its_margin_never_failed():
    data, rows = near_kink_rows(ReferenceNumpy, 1e-9, "float64")
    directional = next(r for r in rows if r.check == "fd_directional")
    assert directional.verdict == "not_applicable"
    assert "crosses its kink" in directional.detail and "margin 1e-09" in directional.detail
    _, wrong = near_kink_rows(DoubledBackward, 1e-9, "float64")
    assert next(r for r in wrong if r.check == "fd_directional").verdict == "not_applicable"


def test_an_entry_whose_stencil_crosses_a_kink_is_an_unreliable_estimate_with_the_margin():
    data, _ = near_kink_rows(ReferenceNumpy, 1e-9, "float64")
    z = KinkGuard.at(data).centre[0]
    unit = int(np.argmin(np.abs(z).min(axis=0)))
    fd = FiniteDifferences(Driver(target(ReferenceNumpy)), data)
    (estimate,) = fd.at_entries([flat_offsets(data)["bias[0]"] + unit])
    assert np.isnan(estimate.derivative)
    assert "crosses its kink" in estimate.unreliable and "margin 1e-09" in estimate.unreliable


@pytest.mark.parametrize("loss", [None, "mse"])
def test_the_checks_ask_for_the_same_number_of_evaluations_however_wide_the_network(loss):
    from conformance.audit.fd_cost import cost

    narrow, wide = (Case(NetworkSpec.mlp([3, width, width, 2], "tanh", "identity", loss=loss), batch=4)
                    for width in (4, 64))
    counts = cost([narrow, wide], target(ReferenceNumpy))["evaluations"].tolist()
    settings = Settings()
    tensors = 1 + 3 + 3  # input, three weights, three biases
    per_direction = settings.scheme("directional", "float64").evaluations
    per_entry = settings.scheme("entry", "float64").evaluations
    # each tensor's entries probed together: one estimate per tensor
    expected = 1 + settings.directions * per_direction + tensors * per_entry
    assert counts == [expected, expected]


#: Every case counts as large: one entry per tensor, all probed together first.
AS_LARGE = Checks(fd_settings=Settings(large_case=10))


def test_on_a_large_case_one_sparse_probe_passes_every_tensor_of_a_correct_backward():
    case = Case(NetworkSpec.mlp([3, 4, 4, 2], "tanh", "identity"), batch=4)
    rows = [r for r in run_case(target(ReferenceNumpy), case, checks=AS_LARGE) if r.check == "fd_entry"]
    assert [r.tensor for r in rows] == list(generate(case).tensors())
    assert all(r.verdict == "pass" and "probed together along one sparse direction" in r.detail for r in rows)
    per_entry = Settings().scheme("entry", "float64").evaluations
    assert all(f"{per_entry} evaluations" in r.detail for r in rows)  # one estimate for all 7 tensors


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_on_a_large_case_a_wrong_entry_is_still_named_by_probing_the_entries_one_by_one(activation):
    case = Case(NetworkSpec.mlp([3, 4, 4, 2], activation, "identity"), batch=4)
    rows = {r.tensor: r for r in run_case(target(TransposedSquareWeight), case, checks=AS_LARGE)
            if r.check == "fd_entry"}
    assert rows["weight[1]"].verdict == "fail" and ENTRY.match(rows["weight[1]"].detail)
    assert all(r.verdict == "pass" and "together" not in r.detail for t, r in rows.items() if t != "weight[1]")
