"""Where and how a run happened: versions, machine, seed, grid, date and the checkout's revision
(``environment.json`` and every report's headline)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from conformance.cases.spec import KINK_MARGIN


GENERATOR = "backprop-conformance"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _processor() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def git_revision(folder: Path = Path(__file__).resolve().parents[2]) -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes to tracked files), or ''."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        revision = git("rev-parse", "--short=12", "HEAD")
        return revision + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(seed: int, grid: str, command: str = "") -> dict:
    """Where and how a run happened: versions, machine, seed, grid, date, revision."""
    import torch

    return {
        "generator": GENERATOR,
        "version": _version(GENERATOR).replace("not installed", "source checkout"),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": command,
        "seed": seed,
        "grid": grid,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "processor": _processor(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def kink_margin_note(checks) -> str:
    """The margin generated data keeps from ReLU kinks, and what the finite-difference rows do about it."""
    text = f"generated ReLU pre-activations keep {KINK_MARGIN} from 0 (spec.KINK_MARGIN)"
    if checks.finite_differences:
        text += ("; each finite-difference row gives the margin its case kept and how far its stencil moved "
                 "pre-activations; an estimate whose stencil would cross a kink is left out, not failed")
    return text
