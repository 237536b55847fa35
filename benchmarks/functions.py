"""``check_function`` beside ``torch.autograd.gradcheck`` (fast and full mode) on the same
custom ``torch.autograd.Function`` and the same float64 inputs, from 10^3 to 10^6 elements;
writes ``benchmarks/functions.csv`` and ``benchmarks/functions.md``.

    python -m benchmarks.functions            # every size; full mode up to FULL_MAX elements

The function is a fused linear + GELU (``conformance.examples.custom_ops.LinearGelu``) on
``x (n/64, 64)``, ``w (64, 64)``, ``b (64,)``: ``n`` is the input's elements. PyTorch on one
thread and NumPy's BLAS too (the machine has two cores, shared: a
thread pool spinning under load costs more than it gains). Time: median of ``REPEATS`` runs, end to end
(the call as a user makes it). gradcheck's full mode builds the whole Jacobian, one forward
pair per input element: it is timed up to ``FULL_MAX`` elements only (once above 10^3).
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from conformance import check_function
from conformance.examples.custom_ops import LinearGelu

SIZES = (1_000, 10_000, 100_000, 1_000_000)
FULL_MAX = 10_000
REPEATS = 5
HERE = Path(__file__).resolve().parent


class WrongInputGradient(LinearGelu):
    """The input's gradient halved: what localising a wrong element costs."""

    @staticmethod
    def backward(ctx, grad_out):
        dx, dw, db = LinearGelu.backward(ctx, grad_out)
        return dx / 2, dw, db


def inputs(n: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    rows = max(n // 64, 1)
    return tuple(torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
                 for shape in ((rows, 64), (64, 64), (64,)))


def timed(call, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rows() -> list[dict]:
    found = []
    for n in SIZES:
        args = inputs(n)
        methods = {
            "check_function": lambda: check_function(LinearGelu, *args),
            "gradcheck fast_mode=True": lambda: torch.autograd.gradcheck(LinearGelu.apply, args, fast_mode=True),
            "check_function, input gradient halved (located by bisection)":
                lambda: check_function(WrongInputGradient, *args),
        }
        if n <= FULL_MAX:
            methods["gradcheck full (fast_mode=False)"] = lambda: torch.autograd.gradcheck(LinearGelu.apply, args)
        report = check_function(LinearGelu, *args)
        assert report.passed, report.message
        wrong = check_function(WrongInputGradient, *args)
        assert any(r.check == "fd_entry" and r.tensor == "x" and r.verdict == "fail" for r in wrong.rows)
        base = None
        for method, call in methods.items():
            seconds = timed(call, 1 if method.startswith("gradcheck full") and n > 1000 else REPEATS)
            base = base or seconds
            found.append(dict(elements=n, method=method, seconds=seconds, ratio_to_check_function=seconds / base))
    return found


SINGLE_THREADED = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main() -> None:
    if any(os.environ.get(name) != "1" for name in SINGLE_THREADED):  # BLAS reads them as NumPy loads: start again
        import subprocess
        import sys

        env = os.environ | {name: "1" for name in SINGLE_THREADED}
        raise SystemExit(subprocess.run([sys.executable, "-m", "benchmarks.functions"], env=env).returncode)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    before = os.getloadavg()
    table = pd.DataFrame(rows())
    after = os.getloadavg()
    table.to_csv(HERE / "functions.csv", index=False)
    lines = ["# check_function beside gradcheck (fused linear + GELU, float64, end to end)", "",
             f"Load average (1 / 5 / 15 min) on the 2 cores: {' / '.join(f'{v:.1f}' for v in before)} before, "
             f"{' / '.join(f'{v:.1f}' for v in after)} after. Median of {REPEATS} runs, PyTorch on one thread. "
             "`ratio` is the method's time over check_function's (above 1: check_function is faster). "
             f"gradcheck's full mode is timed up to {FULL_MAX} input elements (once above 10^3). "
             "check_function checks the given float64 inputs: the function's own forward and backward, "
             "one random direction with its error bound, the backward called twice; with the input's gradient "
             "halved, it also bisects to the wrong element and names it (gradcheck's full mode is what "
             "localises as far).", "",
             "| elements | method | seconds | ratio |", "|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.elements} | {r.method} | {r.seconds:.4f} | {r.ratio_to_check_function:.2f} |")
    (HERE / "functions.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
