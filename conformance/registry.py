"""Finding implementations: built-in names, file paths, ``module:Class``, entry points,
and folders or globs of submissions.

Every way of naming an implementation ends in a ``Target``: a display name and
an adapter class. Anything that goes wrong while finding one raises
``TargetError`` with a one-line message for the user (``load``), or becomes an
``Unloadable`` next to the targets that did load (``load_all``, for many
submissions at once). An adapter class is checked against the contract
(``conformance.contract``) as it is loaded.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import importlib.util
import inspect
import os
import sys
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Iterator

from conformance.adapter import Adapter
from conformance.contract import class_problems, looks_like_an_adapter
from conformance.faults import describe_exception
from conformance.guard import preserved_interpreter_state

ENTRY_POINT_GROUP = "conformance.implementations"

#: The implementations bundled with the suite, in report order.
BUILTINS: dict[str, str] = {
    "reference_numpy": "implementations.reference_numpy:ReferenceNumpy",
    "class_layers": "implementations.class_layers:ClassLayers",
    "single_layer_relu": "implementations.single_layer_relu:SingleLayerRelu",
    "two_layer_sgd": "implementations.two_layer_sgd:TwoLayerSgd",
    "delta_recursion": "implementations.delta_recursion:DeltaRecursion",
    "cached_input": "implementations.cached_input:CachedInput",
}


class TargetError(Exception):
    """A target that cannot be loaded; the message is one line for the user."""


class NoAdapterError(TargetError):
    """A Python file that loads but defines no adapter (in a folder: a helper module, skipped)."""


@dataclass(frozen=True)
class Target:
    name: str
    adapter: type[Adapter]
    source: str

    def new(self) -> Adapter:
        return self.adapter()


@dataclass(frozen=True)
class Unloadable:
    """A named target that could not be loaded, and the one-line reason."""

    source: str
    reason: str


def builtin_names() -> list[str]:
    return list(BUILTINS)


def builtins() -> list[Target]:
    return [load(name) for name in BUILTINS]


def installed_names() -> list[str]:
    """Implementations installed packages register under the entry point group."""
    return sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def load(spec: str) -> Target:
    """A built-in name, ``path/to/file.py[:Class]``, ``module:Class`` or an installed entry point's name."""
    if spec in BUILTINS:
        return _from_import_path(BUILTINS[spec], name=spec)
    path_part, _, class_name = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    if Path(path_part).is_dir():
        raise TargetError(f"{path_part} is a folder; name a .py file in it (conformance check takes folders)")
    if path_part.endswith(".py") or Path(path_part).exists():
        return _from_file(Path(path_part), class_name or None)
    if ":" in spec:
        return _from_import_path(spec)
    if entries := entry_points(group=ENTRY_POINT_GROUP, name=spec):
        return _from_entry_point(spec, list(entries))
    known = ", ".join(BUILTINS)
    installed = f"; installed: {', '.join(installed_names())}" if installed_names() else ""
    raise TargetError(f"unknown implementation {spec!r} (built-in: {known}{installed}; "
                      f"or give path/to/file.py, a folder or module:Class)")


def load_all(specs: list[str] | tuple[str, ...]) -> list[Target | Unloadable]:
    """Every target the arguments name, in order: a folder stands for its ``.py`` files
    (files that load but define no adapter are helpers, skipped), a glob for its
    matches. Targets that cannot be loaded are kept as ``Unloadable``; the same adapter
    named twice appears once; different adapters with one name are told apart by file."""
    loaded: list[Target | Unloadable] = []
    for spec in specs:
        loaded += _load_expanded(spec)
    return _distinct(loaded)


def _has_glob(spec: str) -> bool:
    return any(char in spec for char in "*?[")


def _load_expanded(spec: str) -> list[Target | Unloadable]:
    if _has_glob(spec) and not Path(spec).exists():
        matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))]
        usable = [m for m in matches if m.is_dir() or m.suffix == ".py"]
        if not usable:
            return [Unloadable(spec, f"no .py file or folder matches {spec}")]
        return [t for match in usable for t in _load_expanded(str(match))]
    if Path(spec).is_dir():
        return _load_folder(Path(spec))
    try:
        return [load(spec)]
    except TargetError as error:
        return [Unloadable(spec, str(error))]


def _candidate_files(folder: Path) -> list[Path]:
    """The folder's own ``.py`` files, tests, packaging and private modules aside."""
    def skipped(path: Path) -> bool:
        return (path.name in ("__init__.py", "conftest.py", "setup.py")
                or path.name.startswith(("_", ".", "test_")) or path.stem.endswith("_test"))
    return [path for path in sorted(folder.glob("*.py")) if path.is_file() and not skipped(path)]


def _load_folder(folder: Path) -> list[Target | Unloadable]:
    found: list[Target | Unloadable] = []
    for path in _candidate_files(folder):
        try:
            found.append(_from_file(path, None))
        except NoAdapterError:
            continue
        except TargetError as error:
            found.append(Unloadable(str(path), str(error)))
    if not found:
        return [Unloadable(str(folder), f"no .py file in {folder} defines an adapter (a subclass of conformance.Adapter)")]
    return found


def _identity(target: Target) -> tuple[str, str]:
    try:
        return str(Path(inspect.getfile(target.adapter)).resolve()), target.adapter.__qualname__
    except (TypeError, OSError):
        return target.adapter.__module__, target.adapter.__qualname__


def _distinct(loaded: list[Target | Unloadable]) -> list[Target | Unloadable]:
    unique, seen = [], set()
    for item in loaded:
        key = _identity(item) if isinstance(item, Target) else (item.source, item.reason)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    names = Counter(t.name for t in unique if isinstance(t, Target))
    return [Target(f"{t.name}@{t.source}", t.adapter, t.source) if isinstance(t, Target) and names[t.name] > 1
            else t for t in unique]


def _from_import_path(spec: str, name: str | None = None) -> Target:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise TargetError(f"{spec!r}: an import path reads package.module:AdapterClass")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: modules in the current folder import
    try:
        with preserved_interpreter_state():
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise TargetError(f"cannot import {module_name!r}: {error}") from None
    except SyntaxError as error:
        raise TargetError(f"syntax error in {error.filename}, line {error.lineno}: {error.msg}") from None
    except Exception as error:
        raise TargetError(f"{module_name} failed to import: {describe_exception(error)}") from None
    if not hasattr(module, class_name):
        raise TargetError(f"module {module_name!r} has no class {class_name!r}")
    cls = getattr(module, class_name)
    return _checked(cls, name, spec)


def _from_entry_point(name: str, entries: list) -> Target:
    if len({entry.value for entry in entries}) > 1:
        values = ", ".join(sorted(entry.value for entry in entries))
        raise TargetError(f"entry point {name!r} of group {ENTRY_POINT_GROUP} is ambiguous: {values}")
    entry = entries[0]
    try:
        with preserved_interpreter_state():
            loaded = entry.load()
    except SyntaxError as error:
        raise TargetError(f"syntax error in {error.filename}, line {error.lineno}: {error.msg}") from None
    except Exception as error:
        raise TargetError(f"entry point {name} = {entry.value} failed to load: {describe_exception(error)}") from None
    return _checked(loaded, entry.name, f"entry point {entry.name} = {entry.value}")


def _siblings(folder: Path, module_name: str) -> bool:
    """Whether an imported module was found in ``folder`` (a module next to the user's file)."""
    top = module_name.partition(".")[0]
    return (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file()


@contextlib.contextmanager
def _importable_neighbours(folder: Path) -> Iterator[None]:
    """The user's file can import the modules next to it, as ``python file.py`` would;
    afterwards they are forgotten, so another submission's same-named modules are not taken for its own."""
    before, entry = set(sys.modules), str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)
        for name in set(sys.modules) - before:
            if _siblings(folder, name):
                del sys.modules[name]


@contextlib.contextmanager
def neighbours_first(target: Target) -> Iterator[None]:
    """While a file target runs, its folder comes first on the import path, so a worker
    process started meanwhile (which inherits the path) lets the adapter import the
    modules next to it: its own, not another submission's of the same name."""
    path = Path(target.source)
    if path.suffix != ".py" or not path.is_file():
        yield
        return
    entry = str(path.resolve().parent)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _from_file(path: Path, class_name: str | None) -> Target:
    if not path.is_file():
        raise TargetError(f"no such file: {path}")
    if path.suffix != ".py":
        raise TargetError(f"{path} is not a Python file (.py)")
    module_name = f"conformance_target_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise TargetError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        with preserved_interpreter_state(), _importable_neighbours(path.resolve().parent):
            module_spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[module_name]
        raise TargetError(f"syntax error in {path}, line {error.lineno}: {error.msg}") from None
    except (Exception, SystemExit) as error:  # whatever the user's module raises, even exit()
        del sys.modules[module_name]
        raise TargetError(f"{path} failed to import: {describe_exception(error)}") from None
    return _checked(_adapter_class(module, path, class_name), None, str(path))


def _adapter_class(module, path: Path, class_name: str | None) -> type:
    defined = {name: obj for name, obj in vars(module).items()
               if inspect.isclass(obj) and obj.__module__ == module.__name__}
    candidates = {name: obj for name, obj in defined.items() if issubclass(obj, Adapter) and obj is not Adapter}
    if class_name is not None:
        if class_name not in defined:
            have = f" (it defines: {', '.join(sorted(candidates))})" if candidates else ""
            raise TargetError(f"{path} has no class {class_name!r}{have}")
        return defined[class_name]
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if len(candidates) > 1:
        names = sorted(candidates)
        raise TargetError(f"{path} defines several adapters ({', '.join(names)}); name one as {path}:{names[0]}")
    if lookalikes := sorted(name for name, obj in defined.items() if looks_like_an_adapter(obj)):
        raise TargetError(f"{path} defines no adapter: class {lookalikes[0]} has forward and backward "
                          f"but does not subclass conformance.Adapter")
    raise NoAdapterError(f"{path} defines no adapter (a subclass of conformance.Adapter)")


def _checked(cls: object, name: str | None, source: str) -> Target:
    if problem := class_problems(cls, source):
        raise TargetError(problem)
    return Target(name or cls.name or _default_name(source, cls), cls, source)


def _default_name(source: str, cls: type) -> str:
    return Path(source).stem if source.endswith(".py") else cls.__name__
