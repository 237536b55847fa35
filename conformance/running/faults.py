"""Saying in one line what an implementation's exception was, and where in its own code.

A traceback from inside the harness or NumPy tells the person who wrote the
backprop little; the deepest frame of their own code tells them where to look.
"""

from __future__ import annotations

import sysconfig
import traceback
from pathlib import Path

HARNESS_DIR = Path(__file__).resolve().parent
LIBRARY_DIRS = tuple({Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "purelib", "platlib")})


def _is_users_code(filename: str) -> bool:
    path = Path(filename)
    return not (path.is_relative_to(HARNESS_DIR) or any(path.is_relative_to(p) for p in LIBRARY_DIRS))


def describe_exception(error: BaseException) -> str:
    """``Type: message (at file:line in function)``, naming the deepest frame of the
    implementation's own code (not the harness's, not a library's)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _is_users_code(f.filename)]
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}{where}" if message else f"{type(error).__name__}{where}"
