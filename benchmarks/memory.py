"""Peak memory of the suite's check of one case, next to what the network itself needs.

    python -m benchmarks.memory 1e6 tanh      # prints one JSON line

Runs in a fresh process: imports, then a small warm-up case (so that PyTorch's
and NumPy's one-off allocations are made), then the resident set size is
read; the case's data is generated and the check runs in this process
(``run_case``, no worker). The peak is the high-water mark of the resident
set (``VmHWM``, reset to the current size first through ``clear_refs``: a
child's ``ru_maxrss`` starts at its parent's peak) above that baseline, so it
includes the case's data itself. The network needs its parameters plus, for a forward and backward,
every layer's pre-activation and activation at the batch (the input
included): ``network_bytes``.
"""

from __future__ import annotations

import json
import resource
import sys

from benchmarks import subjects
from conformance.runner import run_case


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_bytes() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def network_bytes(case) -> int:
    spec, itemsize = case.spec, 8
    activations = case.batch * (spec.layers[0].n_in + 2 * sum(layer.n_out for layer in spec.layers))
    return (spec.n_params + activations) * itemsize


def measure(size: str, activation: str) -> dict:
    run_case(subjects.REFERENCE, subjects.case_for("1e3", activation))
    case = subjects.case_for(size, activation)
    baseline = resident_bytes()
    reset_peak()
    rows = run_case(subjects.REFERENCE, case)
    assert all(r.verdict == "pass" for r in rows)
    del rows
    increase = peak_bytes() - baseline
    return dict(size=size, activation=activation, params=case.spec.n_params, network_bytes=network_bytes(case),
                baseline_bytes=baseline, peak_increase_bytes=increase,
                ratio=increase / network_bytes(case))


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], sys.argv[2])))
