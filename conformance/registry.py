"""Finding implementations: built-in names, file paths, ``module:Class`` and entry points.

Every way of naming an implementation ends in a ``Target``: a display name and
an adapter class. Anything that goes wrong while finding one raises
``TargetError`` with a one-line message for the user.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from conformance.adapter import Adapter
from conformance.guard import preserved_interpreter_state

ENTRY_POINT_GROUP = "conformance.implementations"

#: The implementations bundled with the suite, in report order.
BUILTINS: dict[str, str] = {
    "reference_numpy": "implementations.reference_numpy:ReferenceNumpy",
}


class TargetError(Exception):
    """A target that cannot be loaded; the message is one line for the user."""


@dataclass(frozen=True)
class Target:
    name: str
    adapter: type[Adapter]
    source: str

    def new(self) -> Adapter:
        return self.adapter()


def builtin_names() -> list[str]:
    return list(BUILTINS)


def builtins() -> list[Target]:
    return [load(name) for name in BUILTINS]


def load(spec: str) -> Target:
    """A built-in name, an entry point name, ``path/to/file.py[:Class]`` or ``module:Class``."""
    if spec in BUILTINS:
        return _from_import_path(BUILTINS[spec], name=spec)
    path_part, _, class_name = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    if path_part.endswith(".py") or Path(path_part).exists():
        return _from_file(Path(path_part), class_name or None)
    if ":" in spec:
        return _from_import_path(spec)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == spec:
            with preserved_interpreter_state():
                loaded = entry.load()
            return _checked(loaded, entry.name, f"entry point {entry.value}")
    known = ", ".join(BUILTINS)
    raise TargetError(f"unknown implementation {spec!r} (built-in: {known}; or give a .py file or module:Class)")


def _from_import_path(spec: str, name: str | None = None) -> Target:
    module_name, _, class_name = spec.partition(":")
    try:
        with preserved_interpreter_state():
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise TargetError(f"cannot import {module_name!r}: {error}") from None
    except SyntaxError as error:
        raise TargetError(f"syntax error in {error.filename}, line {error.lineno}: {error.msg}") from None
    if not hasattr(module, class_name):
        raise TargetError(f"module {module_name!r} has no class {class_name!r}")
    cls = getattr(module, class_name)
    return _checked(cls, name, spec)


def _from_file(path: Path, class_name: str | None) -> Target:
    if not path.is_file():
        raise TargetError(f"no such file: {path}")
    module_name = f"conformance_target_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise TargetError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        with preserved_interpreter_state():
            module_spec.loader.exec_module(module)
    except SyntaxError as error:
        raise TargetError(f"syntax error in {path}, line {error.lineno}: {error.msg}") from None
    except Exception as error:
        raise TargetError(f"{path} failed to import: {type(error).__name__}: {error}") from None
    candidates = {
        name: obj for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, Adapter) and obj is not Adapter and obj.__module__ == module_name
    }
    if class_name is not None:
        if class_name not in candidates:
            raise TargetError(f"{path} has no adapter class {class_name!r}")
        cls = candidates[class_name]
    elif not candidates:
        raise TargetError(f"{path} defines no adapter (a subclass of conformance.Adapter)")
    elif len(candidates) > 1:
        names = ", ".join(sorted(candidates))
        raise TargetError(f"{path} defines several adapters ({names}); name one as {path}:{sorted(candidates)[0]}")
    else:
        (cls,) = candidates.values()
    return _checked(cls, cls.name or path.stem, str(path))


def _checked(cls: object, name: str | None, source: str) -> Target:
    if not (inspect.isclass(cls) and issubclass(cls, Adapter)):
        raise TargetError(f"{source} is not an adapter class (a subclass of conformance.Adapter)")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise TargetError(f"{source}: adapter {cls.__name__} does not implement {missing}")
    return Target(name or cls.name or cls.__name__, cls, source)
