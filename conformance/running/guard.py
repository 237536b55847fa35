"""Keeping the harness's own interpreter as it was while user code is imported into it.

Loading a target imports the user's module in the harness's process (to read
its adapter's name and capabilities). Module-level code can patch NumPy or
PyTorch (``nnfs.init()`` replaces ``np.dot``), reseed the global generators
or change NumPy's error and print settings; ``preserved_interpreter_state``
undoes all of that when the import is over, so the oracle never computes with
a patched library. Running the implementation happens in a worker process
(see ``isolation``).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

import numpy as np

GUARDED_MODULES = ("numpy", "numpy.random", "numpy.linalg", "torch", "torch.nn.functional", "torch.linalg")


def _module_attributes() -> dict[str, dict]:
    return {name: dict(vars(sys.modules[name])) for name in GUARDED_MODULES if name in sys.modules}


@contextlib.contextmanager
def preserved_global_generator() -> Iterator[None]:
    """NumPy's global generator as it was: for a constructor of a bundled port that draws its
    initial weights from it (the harness then sets them), built once per evaluation, where
    ``preserved_interpreter_state``'s copy of whole module namespaces would cost more than the
    network."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


@contextlib.contextmanager
def preserved_interpreter_state() -> Iterator[None]:
    attributes = _module_attributes()
    random_state = np.random.get_state()
    errors, printing = np.geterr(), np.get_printoptions()
    torch = sys.modules.get("torch")
    torch_rng = torch.random.get_rng_state() if torch is not None else None
    try:
        yield
    finally:
        for name, saved in attributes.items():
            vars(sys.modules[name]).update(saved)  # patched functions back; new names are harmless
        np.random.set_state(random_state)
        np.seterr(**errors)
        np.set_printoptions(**printing)
        if torch_rng is not None:
            torch.random.set_rng_state(torch_rng)
