"""A student's submission as one module, inside the sandboxed worker (called by ``loading``).

A submission is a ``.py`` file, a package (a folder with ``__init__.py``), a
folder holding one notebook (or, without a notebook, one module), or an
``.ipynb`` notebook (``notebooks``). Whatever cannot be loaded is a
``LoadError`` with one line; a notebook's cells that raise are notes instead,
loading going on with what the others defined.
"""

from __future__ import annotations

import importlib.util
import sys
import zlib
from pathlib import Path

from conformance.running.faults import describe_exception
from conformance.running.modules import LoadError, module_from_file


def _visible(folder: Path, suffix: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"*{suffix}")
                  if p.is_file() and not p.name.startswith((".", "_", "test_")) and p.name != "setup.py")


def submission_file(folder: Path, shown: str) -> Path:
    """The one notebook (or, without one, the one module) a folder holds."""
    notebooks = _visible(folder, ".ipynb")
    modules = _visible(folder, ".py")
    chosen = notebooks or modules
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise LoadError(f"{shown} holds no notebook (.ipynb) and no Python file (.py)")
    kind = "notebooks" if notebooks else "Python files"
    names = ", ".join(p.name for p in chosen[:4]) + (", …" if len(chosen) > 4 else "")
    raise LoadError(f"{shown} holds several {kind} ({names}); hand in one")


def _package(folder: Path, shown: str):
    name = f"submission_{zlib.crc32(str(folder.resolve()).encode()):08x}"
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot load {shown} as a Python package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise LoadError(f"syntax error in {shown}, {Path(error.filename or '').name} line {error.lineno}: "
                        f"{error.msg}") from None
    except (Exception, SystemExit) as error:
        raise LoadError(f"{shown} failed to import: {describe_exception(error)}") from None
    return module


def load_submission(path: Path, shown: str, cell_seconds: float) -> tuple[object, tuple[str, ...]]:
    """The submission's module and the notes its loading took."""
    from conformance.running.notebooks import run_notebook

    if path.is_dir():
        if (path / "__init__.py").is_file():
            return _package(path, shown), ()
        inner = submission_file(path, shown)
        path, shown = inner, f"{shown.rstrip('/')}/{inner.name}"
    if not path.exists():
        raise LoadError(f"no such file: {shown}")
    if path.suffix == ".ipynb":
        return run_notebook(path, shown, cell_seconds)
    if path.suffix == ".py":
        return module_from_file(path, shown), ()
    raise LoadError(f"{shown} is not a notebook (.ipynb), a Python file (.py) or a folder")
