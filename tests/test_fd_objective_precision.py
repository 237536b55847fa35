"""Finite differences of an objective computed in float32 in a float64 case: the bound is
float32's (no false failure on right gradients), and a wrong gradient still fails."""

import pytest

from conformance.running.targets import Target
from conformance.runner import Checks, run_case
from conformance.cases.spec import Case, NetworkSpec
from tests.faulty import state

FD_ONLY = Checks(torch=False)
CASES = [Case(NetworkSpec.mlp([3, 4, 4, 2], act, "identity", loss=loss), batch=4)
         for act in ("tanh", "sigmoid", "relu") for loss in ("mse", "sse", "half_mse", "softmax_cross_entropy")]


def fd_rows(adapter, case):
    return [r for r in run_case(Target(adapter.name, adapter, "test"), case, (), FD_ONLY) if r.check.startswith("fd_")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_float32_loss_with_right_gradients_is_never_a_false_failure(case):
    rows = fd_rows(state.Float32Loss, case)
    assert rows and all(r.verdict in ("pass", "not_applicable") for r in rows), (
        [r.detail for r in rows if r.verdict == "fail"])
    assert all("the objective's values are float32 numbers" in r.detail for r in rows if r.verdict == "pass")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_wrong_gradient_with_a_float32_loss_still_fails(case):
    rows = fd_rows(state.Float32LossDoubledWeight, case)
    failing = {r.tensor for r in rows if r.verdict == "fail"}
    assert "weight[0]" in failing and "*" in failing, [(r.tensor, r.verdict, r.detail) for r in rows]


def test_a_float64_objective_keeps_its_float64_bound():
    from conformance.implementations.reference_numpy import ReferenceNumpy
    rows = [r for r in run_case(Target("ref", ReferenceNumpy, "test"), CASES[0], (), FD_ONLY)
            if r.check.startswith("fd_")]
    assert rows and all(r.verdict == "pass" and "float32 numbers" not in r.detail for r in rows)
