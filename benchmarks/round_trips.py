"""Round trips between the grader and its sandboxed workers: the requests of one command, by
kind, per case observed, the wall time the grader spent waiting for their replies, and the grader's
own CPU time (a measure a shared machine's load moves less than wall time; a sandboxed
worker's does not show in this process's resource usage, so it is not given).

    python -m benchmarks.round_trips run --quick --no-timing --impl reference_numpy
    python -m benchmarks.round_trips check --quick --no-timing tests/faulty/adapters.py:Doubled

The command runs in this process with ``--jobs 1`` (a pool's processes would ask requests this
process cannot count); every request goes through ``WorkerDriver._call``, which is counted.
A case whose implementation a worker observed is one case; a target run in this process
(``--no-isolation``) asks nothing of a worker and counts nothing.
"""

from __future__ import annotations

import collections
import resource
import sys
import time
from typing import Sequence

from conformance.running import isolation


def counted(argv: Sequence[str]) -> tuple[int, collections.Counter, float]:
    """The command's exit code, its requests by kind, and the seconds spent in them."""
    requests, waited = collections.Counter(), [0.0]
    real = isolation.WorkerDriver._call

    def call(driver, method, *rest):
        requests[method] += 1
        start = time.perf_counter()
        try:
            return real(driver, method, *rest)
        finally:
            waited[0] += time.perf_counter() - start

    isolation.WorkerDriver._call = call
    try:
        from conformance.cli import main

        code = main([*argv, "--jobs", "1"])
    except SystemExit as stop:
        code = stop.code
    finally:
        isolation.WorkerDriver._call = real
    return code, requests, waited[0]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> int:
    start = time.perf_counter()
    code, requests, waited = counted(sys.argv[1:] if argv is None else argv)
    cases = max(requests["observe"], 1)
    kinds = ", ".join(f"{kind} {n} ({n / cases:.2f} a case)" for kind, n in sorted(requests.items()))
    print(f"{requests['observe']} cases observed; requests: {kinds}; {sum(requests.values()) / cases:.2f} a case; "
          f"{waited:.1f} s waiting for replies; wall {time.perf_counter() - start:.1f} s; the grader's CPU "
          f"{cpu_seconds():.1f} s",
          file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
