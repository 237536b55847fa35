"""Executing a submission's Python file as a module, and ``LoadError``: the one-line
failure every way of loading a submission raises. Runs only inside the sandboxed worker."""

from __future__ import annotations

import importlib.util
import sys
import zlib
from pathlib import Path

from conformance.running.faults import describe_exception


class LoadError(Exception):
    """The adapter cannot be loaded; the message is one line for the user."""


def module_from_file(path: Path, shown: str | None = None):
    """Execute a Python file as a module (named ``submission_…``, one name per file), its
    folder importable first (as for ``python file.py``); messages name it ``shown``."""
    module_name = f"submission_{zlib.crc32(str(path.resolve()).encode()):08x}"
    shown = shown or str(path)
    if not path.is_file():
        raise LoadError(f"no such file: {shown}")
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise LoadError(f"cannot load {shown} as Python")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as error:
        raise LoadError(f"syntax error in {shown}, line {error.lineno}: {error.msg}") from None
    except (Exception, SystemExit) as error:  # whatever the user's module raises, even exit()
        raise LoadError(f"{shown} failed to import: {describe_exception(error)}{import_hint(error, shown)}") from None
    return module


def import_hint(error: BaseException, shown: str) -> str:
    """Why a module beside a file target cannot be imported as part of a package: a file runs
    from a private copy of its own folder, so the folder itself is no package there."""
    missing = (getattr(error, "name", None) or "").partition(".")[0]
    folders = Path(shown).parts[:-1]
    if not isinstance(error, ModuleNotFoundError) or not missing or missing not in folders:
        return ""
    module = ".".join(folders[folders.index(missing):] + (Path(shown).stem,))
    return (f" ({missing!r} is a folder on the file's path, not a package on its import path: a file target "
            f"runs from a private copy of its own folder, where the files beside it import as top-level "
            f"modules (`from {missing}.x import …` is `from x import …` there); import its neighbours that way, "
            f"or name the target as a module path, {module}:Class, from the folder that holds {missing!r}, "
            f"where the current folder is importable)")
