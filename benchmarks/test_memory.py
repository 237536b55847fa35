"""Peak memory of a 10^6-parameter check against the memory of its network (see ``memory``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks.table import ONE_THREAD


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_peak_memory_of_a_million_parameter_check(benchmark, activation):
    peaks = []

    def measure():
        out = subprocess.run([sys.executable, "-m", "benchmarks.memory", "1e6", activation],
                             env=os.environ | ONE_THREAD, capture_output=True, text=True, check=True)
        peaks.append(json.loads(out.stdout))

    benchmark.pedantic(measure, rounds=3, warmup_rounds=0)
    ratios = sorted(p["ratio"] for p in peaks)
    benchmark.group = "memory"
    benchmark.extra_info.update(method="memory", size="1e6", activation=activation, params=peaks[0]["params"],
                                flat=0, network_bytes=peaks[0]["network_bytes"],
                                peak_increase_bytes=sorted(p["peak_increase_bytes"] for p in peaks),
                                ratio_median=ratios[len(ratios) // 2])
