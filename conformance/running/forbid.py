"""Modules an assignment forbids (``FORBID``): not provided to a graded submission at all.

Two layers, neither of which asks the submission anything:

* the grader hides the modules' files from the worker (``hidden_paths``: the
  sandbox mounts an empty folder over a package and ``/dev/null`` over a module
  file), so that neither an import nor reading the source from its path finds
  them, whatever the submission does to ``sys.meta_path``, ``__import__`` or
  ``importlib``;
* the worker, before any submission code runs, checks that it has not loaded
  one of them itself (a module in ``sys.modules`` would be there for the taking)
  and puts a finder first on ``sys.meta_path`` that refuses them with one line,
  ``imports torch, which this assignment forbids``, and notes who tried.

Without bubblewrap only the finder stands, which a submission can remove: the
run's sandbox line already says there is no sandbox. ``conformance check``
forbids nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Iterable, Sequence

#: ``grade``'s default: autograd libraries, and the suite's own reference implementations and oracles.
DEFAULT = ("torch", "jax", "tensorflow", "autograd", "conformance.implementations", "conformance.oracles")


class ForbiddenModule(ModuleNotFoundError):
    """An import of a module the assignment forbids (an ``ImportError``, so a library's
    optional import falls back as it would where the module is not installed)."""


def line(name: str) -> str:
    return f"imports {name}, which this assignment forbids"


def covering(module: str, names: Iterable[str]) -> str | None:
    """The forbidden name ``module`` is or lies under, if any."""
    return next((n for n in names if module == n or module.startswith(n + ".")), None)


class Refusal:
    """The worker's finder: refuses forbidden modules, and remembers the ones the
    submission's own code asked for (a library probing for one is not the student's doing)."""

    def __init__(self, names: Sequence[str]):
        self.names = tuple(names)
        self.refused: dict[str, None] = {}

    def find_spec(self, fullname: str, path=None, target=None):
        if (name := covering(fullname, self.names)) is None:
            return None
        if _asked_by_the_submission():
            self.refused[name] = None
        raise ForbiddenModule(line(name), name=fullname)

    def notes(self) -> tuple[str, ...]:
        return tuple(line(name) for name in self.refused)

    def explain(self, error: BaseException) -> str | None:
        """The one line for an error that a forbidden module caused (its import refused, or
        the name it would have bound undefined), else None."""
        seen = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            if isinstance(error, ImportError) and (name := covering(error.name or "", self.names)):
                return line(name)
            if isinstance(error, NameError) and getattr(error, "name", None) in {n.split(".")[0]
                                                                                   for n in self.refused}:
                return line(error.name)
            error = error.__cause__ or error.__context__
        return None


def _asked_by_the_submission() -> bool:
    """Whether the import statement that reached the finder is in the submission's code."""
    from conformance.running.faults import _is_users_code

    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
        frame = frame.f_back
    return frame is not None and _is_users_code(frame.f_code.co_filename)


class CannotForbid(Exception):
    """FORBID names a module the worker has loaded itself; one line for the instructor."""


_ACTIVE: Refusal | None = None


def install(names: Sequence[str]) -> Refusal | None:
    """Refuse ``names`` in this process from now on (None when nothing is forbidden)."""
    global _ACTIVE
    if not names:
        return None
    if loaded := sorted(m for m in sys.modules if covering(m, names)):
        raise CannotForbid(f"FORBID names {covering(loaded[0], names)}, which the grading worker itself has "
                           f"loaded ({loaded[0]}) to speak to the grader; it cannot be forbidden")
    _ACTIVE = Refusal(names)
    sys.meta_path.insert(0, _ACTIVE)
    return _ACTIVE


def explain(error: BaseException) -> str | None:
    """``Refusal.explain`` of the finder installed in this process, if any."""
    return _ACTIVE.explain(error) if _ACTIVE is not None else None


# ---- the grader's side: the files to hide -----------------------------------------------------

_SUFFIXES = (".py", ".pyc", ".pyi", ".so", ".pyd", ".pth")


def _children(folder: Path, part: str) -> list[Path]:
    """What ``part`` may be imported from in ``folder``: a package folder, a module file,
    and a module's cached bytecode."""
    found = [folder / part] if (folder / part).is_dir() else []
    found += [p for p in folder.glob(f"{part}.*") if p.is_file() and p.suffix in _SUFFIXES]
    found += [p for p in (folder / "__pycache__").glob(f"{part}.*.pyc")]
    return found


def _top_level(name: str) -> list[Path]:
    folders = [Path(p) for p in sys.path if p and Path(p).is_dir()]
    try:
        spec = importlib.util.find_spec(name)  # a top-level name is located without being imported
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p).parent for p in spec.submodule_search_locations]
    elif spec is not None and spec.origin and Path(spec.origin).is_file():
        folders.append(Path(spec.origin).parent)
    return [p for folder in dict.fromkeys(folders) for p in _children(folder, name)]


def hidden_paths(names: Sequence[str]) -> tuple[str, ...]:
    """Every path a worker must not see so that ``names`` cannot be imported or read: for
    each name, its package folders and module files (symbolic links resolved) wherever the
    grader's import path would find them."""
    paths: list[Path] = []
    for name in names:
        top, *rest = name.split(".")
        found = _top_level(top)
        for part in rest:
            found = [child for folder in found if folder.is_dir() for child in _children(folder, part)]
        paths += found
    return tuple(dict.fromkeys(str(p.resolve()) for p in paths))
