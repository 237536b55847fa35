"""The timing phase's budget: what is started, in what order, and what is left out."""

from conformance.spec import Case, NetworkSpec
from conformance.timing import Budget, fits, scaled, timing_cases

SMALL = Case(NetworkSpec.mlp([4, 4, 4], "tanh"), 32)
LARGE = scaled(SMALL, 256)


def test_the_first_case_starts_while_any_time_is_left():
    assert fits(SMALL, None, 0.5)
    assert not fits(SMALL, None, 0.0) and not fits(SMALL, None, -1.0)


def test_a_case_is_started_only_when_its_estimate_fits_what_is_left():
    ratio = LARGE.spec.n_params / SMALL.spec.n_params
    assert ratio > 100
    assert fits(LARGE, (SMALL, 0.01), 0.011 * ratio)
    assert not fits(LARGE, (SMALL, 0.01), 0.009 * ratio)
    assert fits(SMALL, (LARGE, 5.0), 5.0)  # a smaller network is never expected to take longer


def test_the_budget_is_shared_out_among_the_implementations_left():
    budget = Budget(30.0)
    assert 14.0 < budget.share(2) <= 15.0 and budget.share(1) <= 30.0
    assert Budget(0.0).share(3) == 0.0


def test_timing_cases_go_narrowest_first_over_every_depth_and_dtype():
    ran = [Case(NetworkSpec.mlp([3, 4, 2], "tanh"), 4), Case(NetworkSpec.mlp([3, 4, 4, 2], "relu"), 4, "float32")]
    widths = [case.spec.sizes[0] for case in timing_cases(ran, (256, 4, 32))]
    assert widths == [4, 4, 32, 32, 256, 256]
