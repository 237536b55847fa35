"""One thread per process for NumPy's BLAS and PyTorch in the suite's own processes.

The suite parallelises by process (``--jobs``, a pool per run, a worker per target),
so thread pools on top only fight: two processes whose OpenMP pools each want every
core spin on each other's core, and a quick audit took 16.3 s with them and 10.0 s
with one thread per process. A variable the user set is left as it is: the rule only
fills in what nobody chose.

The variables are read when OpenBLAS, MKL or PyTorch first loads; a process that has
already imported PyTorch (a pool process unpickling its task) is set by
``torch.set_num_threads`` as well.
"""

from __future__ import annotations

import os
import sys
from typing import MutableMapping

#: Read by OpenBLAS, MKL and PyTorch's OpenMP pool when a process starts.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def unset_thread_variables(environ: MutableMapping[str, str]) -> tuple[str, ...]:
    """The thread variables ``environ`` leaves to the suite, set to 1 there; returns their names."""
    chosen = tuple(name for name in THREAD_VARIABLES if name not in environ)
    environ.update({name: "1" for name in chosen})
    return chosen


def one_thread_per_process() -> None:
    """This process (and the processes it starts) on one thread, except where the user chose."""
    chosen = unset_thread_variables(os.environ)
    torch = sys.modules.get("torch")
    if "OMP_NUM_THREADS" in chosen and torch is not None:
        torch.set_num_threads(1)
