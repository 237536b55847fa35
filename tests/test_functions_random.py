"""Kinked functions (abs, relu, max, and a float32-only relu) checked at many random points:
never a false alarm (the slow tier; ``test_functions`` pins a few points in the fast one)."""

from __future__ import annotations

import pytest
import torch

from conformance import check_function

pytestmark = pytest.mark.slow

SEEDS = range(100)
KINKED = [
    pytest.param(torch.abs, {"a": (300,)}, id="abs"),
    pytest.param(torch.relu, {"a": (16, 40)}, id="relu"),
    pytest.param(lambda a, b: torch.maximum(a, b), {"a": (12, 9), "b": (12, 9)}, id="elementwise max"),
    pytest.param(lambda a: a.max(dim=1).values, {"a": (20, 7)}, id="max over an axis"),
    pytest.param(lambda a: torch.relu(a.float()) * a.float().abs(), {"a": (500,)}, id="relu times abs in float32 only"),
]


@pytest.mark.parametrize("function, inputs", KINKED)
def test_kinked_functions_at_random_points_raise_no_false_alarm(function, inputs):
    alarms = [report.message for seed in SEEDS
              if not (report := check_function(function, inputs=inputs, seed=seed, name="kinked")).passed]
    assert alarms == []
