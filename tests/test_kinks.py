"""The kink guard's shortcut for single entries agrees with a full forward."""

import numpy as np
import pytest

from conformance.kinks import KinkGuard
from conformance.spec import Case, NetworkSpec, generate


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
