"""The timing phase's budget: what is started, in what order, and what is left out."""

import pytest

from conformance.cases.spec import Case, NetworkSpec
from conformance.running.timing import (CASE_OVERHEAD_S, Measured, Measurement, Rules, Timed, estimate_s, fits, scaled,
                                        shares, timing_cases)

SMALL = Case(NetworkSpec.mlp([4, 4, 4], "tanh"), 32)
LARGE = scaled(SMALL, 256)


def test_the_first_case_starts_while_any_time_is_left():
    assert fits(SMALL, None, 0.5)
    assert not fits(SMALL, None, 0.0) and not fits(SMALL, None, -1.0)


def measured(per_call_s: float, case: Case = SMALL, generated_s: float = 0.0) -> Measured:
    m = Measurement(per_call_s, per_call_s, per_call_s, 9, 1)
    return Measured(case, tuple(Timed(phase, m, m) for phase in ("forward", "backward")), generated_s)


def test_fast_calls_cost_their_repeats_and_slow_ones_scale_with_the_parameters():
    rules = Rules(warmup=3, repeats=9, min_repeat_s=2e-3)
    floor = CASE_OVERHEAD_S + 4 * 10 * 2e-3  # 2 phases × (implementation, PyTorch) × 10 repeats of 2 ms
    assert estimate_s(SMALL, measured(1e-5), rules) == pytest.approx(floor + 4 * 3 * 1e-5)
    ratio = LARGE.spec.n_params / SMALL.spec.n_params
    assert ratio > 100
    slow = estimate_s(LARGE, measured(1e-3), rules)
    assert slow == pytest.approx(CASE_OVERHEAD_S + 4 * 13 * 1e-3 * ratio)


def test_a_case_is_started_only_when_its_estimate_fits_what_is_left():
    last = measured(1e-3)
    need = estimate_s(LARGE, last, Rules())
    assert fits(LARGE, last, need * 1.01) and not fits(LARGE, last, need * 0.99)
    assert fits(SMALL, measured(1e-3, LARGE), estimate_s(LARGE, measured(1e-3, LARGE), Rules()))


def test_generating_the_data_counts_scaled_with_the_parameters():
    ratio = LARGE.spec.n_params / SMALL.spec.n_params
    extra = estimate_s(LARGE, measured(1e-5, generated_s=0.1), Rules()) - estimate_s(LARGE, measured(1e-5), Rules())
    assert extra == pytest.approx(0.1 * ratio)


def test_each_implementation_gets_an_even_share_and_what_the_ones_before_left():
    assert shares(30.0, 3, []) == 10.0
    assert shares(30.0, 3, [4.0]) == 16.0  # 6 s left unused come along
    assert shares(30.0, 3, [4.0, 20.0]) == 10.0  # an overrun takes nothing from the next
    assert shares(0.0, 3, []) == 0.0


def test_timing_cases_go_narrowest_first_over_every_depth_and_dtype():
    ran = [Case(NetworkSpec.mlp([3, 4, 2], "tanh"), 4), Case(NetworkSpec.mlp([3, 4, 4, 2], "relu"), 4, "float32")]
    widths = [case.spec.sizes[0] for case in timing_cases(ran, (256, 4, 32))]
    assert widths == [4, 4, 32, 32, 256, 256]
