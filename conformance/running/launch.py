"""How a worker process is started: where it finds the target, its command line in the
sandbox, the environment it inherits (nothing but what is listed), and what its exit means."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from conformance.running import sandbox
from conformance.running.loading import Locator
from conformance.running.targets import Target


def locator(target: Target) -> Locator | None:
    """How a worker finds the target's adapter: its own locator, or where the class handed
    over in this process was defined (None for a class defined inside a function)."""
    if target.locator is not None:
        return target.locator
    adapter = target.adapter
    if adapter is None or "<locals>" in adapter.__qualname__:
        return None
    module = sys.modules.get(adapter.__module__)
    file = getattr(module, "__file__", None)
    if adapter.__module__ != "__main__" and not adapter.__module__.startswith("submission"):
        return Locator("module", f"{adapter.__module__}:{adapter.__qualname__}")
    return Locator("file", file, adapter.__qualname__) if file else None


def worker_command(view: sandbox.View, fd: int, filter_fd: int | None = None) -> list[str]:
    # -I: isolated mode (no current folder, no PYTHONPATH, no user site-packages on the import
    # path); -B: no bytecode written. The suite comes from HARNESS (see worker.BOOTSTRAP).
    from conformance.running.worker import BOOTSTRAP

    return sandbox.command(view, [sys.executable, "-I", "-B", "-c", BOOTSTRAP, str(HARNESS), str(fd)], filter_fd)


#: The folder holding the grader's ``conformance`` package: the worker imports the same suite.
HARNESS = Path(__file__).resolve().parents[2]


def python_path() -> list[str]:
    """The folders the worker's interpreter imports from: the suite's and the grader's
    installation (never its current folder: empty entries are left out)."""
    return list(dict.fromkeys([str(HARNESS)] + [p for p in sys.path if p]))


#: What a worker inherits of the grader's environment: nothing else (tokens, keys and
#: passwords a grading machine keeps there stay out of a submission's reach).
PASSED_ON = ("PATH", "LANG", "LANGUAGE", "TZ", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "MPLBACKEND")


def worker_environment() -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items()
            if k in PASSED_ON or k.startswith(("LC_", "CONFORMANCE_"))}
    return kept | {"HOME": "/tmp", "TMPDIR": "/tmp"}


def exit_description(code: int | None) -> str:
    if code is None:
        return "the worker process stopped answering"
    if code < 0 or code > 128 and code - 128 in signal.Signals._value2member_map_:
        number = -code if code < 0 else code - 128
        try:
            signame = signal.Signals(number).name
        except ValueError:
            signame = f"signal {number}"
        hint = {"SIGKILL": " (out of memory?)", "SIGXCPU": " (CPU time limit)",
                "SIGXFSZ": " (file size limit)"}.get(signame, "")
        return f"the implementation crashed the worker process ({signame}){hint}"
    return f"the worker process exited with code {code} (the implementation ended the process)"
