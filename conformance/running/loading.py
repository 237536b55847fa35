"""Loading a submission's adapter class: what a sandboxed worker does first.

This module (with ``running.modules``, ``running.submission`` and
``running.notebooks``, which it calls) is the only one that imports or executes a
submission's code, and it runs inside the worker (or in the caller's own process
when the caller asked for no isolation, trusting the code). The grading process names targets by
``Locator`` and learns their adapter's name and capabilities from the
worker as plain data.

An ``assignment`` locator names two files: the instructor's assignment (one
adapter class) and a student's submission (a ``.py`` file, a package or a
folder holding one notebook or module, or an ``.ipynb`` notebook). The
submission is loaded first, then the assignment, and the student's module is
set on the adapter class as ``submission``; what loading noticed on the way
(skipped notebook lines, cells that raised) comes back as notes. Without a
submission the assignment is loaded alone (``submission`` is None): that worker
decides the instructor's side (``grading.instructor``) with no student code in it.

Every way a load can fail is a ``LoadError`` with one line for the user.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path

from conformance.contract.adapter import Adapter
from conformance.contract.rules import class_problems, looks_like_an_adapter
from conformance.running.faults import describe_exception
from conformance.running.modules import LoadError, module_from_file

ENTRY_POINT_GROUP = "conformance.implementations"


@dataclass(frozen=True)
class Locator:
    """How a worker finds an adapter class: ``kind`` is ``file`` (``where`` a path),
    ``module`` (``where`` is ``package.module:Class``), ``entry_point`` (``where``
    is the entry point's name) or ``assignment`` (``where`` the assignment's path,
    ``submission`` the student's or None for the assignment alone, ``api`` the names the
    submission must define). Plain data: the grader never follows it itself."""

    kind: str
    where: str
    class_name: str | None = None
    #: The path as the user gave it, for messages (``where`` is resolved).
    given: str | None = None
    submission: str | None = None
    api: tuple[str, ...] = ()
    #: Modules the worker refuses and does not provide (``running.forbid``; an assignment's FORBID).
    forbid: tuple[str, ...] = ()
    #: Folders a ``module`` target's top-level package is found in: appended to the worker's
    #: import path, after site-packages.
    roots: tuple[str, ...] = ()
    #: The other submissions of the folder this one was listed from: never copied with it,
    #: even when it imports them (a submission reaches its own files only).
    apart: tuple[str, ...] = ()
    #: A file of declared functions (``function_host``), not an adapter.
    functions: bool = False

    @property
    def folder(self) -> str | None:
        """The folder a file's neighbouring modules import from (a submission's own, for an
        assignment: the folder itself when the submission is one)."""
        if self.kind == "assignment" and self.submission is None:
            return None
        if self.kind == "assignment":
            path = Path(self.submission).resolve()
            return str(path if path.is_dir() else path.parent)
        return str(Path(self.where).resolve().parent) if self.kind == "file" else None

    @property
    def readable(self) -> tuple[str, ...]:
        """What a worker must be able to read: the folder, and an assignment's own file."""
        folder = (self.folder,) if self.folder else ()
        return folder + ((str(Path(self.where).resolve()),) if self.kind == "assignment" else ())


@dataclass(frozen=True)
class Loaded:
    """A loaded adapter class and what loading noticed (one line each)."""

    cls: type
    notes: tuple[str, ...] = ()


def load_adapter(locator: Locator) -> type[Adapter]:
    """The adapter class the locator names, checked against the contract."""
    return load(locator).cls


def load(locator: Locator, cell_seconds: float = 20.0) -> Loaded:
    """The adapter class the locator names, checked against the contract, and the notes
    loading took (a notebook's cells each get at most ``cell_seconds``)."""
    notes: tuple[str, ...] = ()
    if locator.kind == "assignment":
        cls, notes, source = _from_assignment(locator, cell_seconds)
    elif locator.kind == "file":
        source = locator.given or locator.where
        cls = adapter_class(module_from_file(Path(locator.where), source), source, locator.class_name)
    elif locator.kind == "module":
        cls, source = _from_import_path(locator.where), locator.where
    elif locator.kind == "entry_point":
        cls, source = _from_entry_point(locator.where)
    else:
        raise LoadError(f"unknown kind of target {locator.kind!r}")
    if problem := class_problems(cls, source):
        raise LoadError(problem)
    return Loaded(cls, notes)


def _from_assignment(locator: Locator, cell_seconds: float) -> tuple[type, tuple[str, ...], str]:
    """The assignment's adapter first (what it imports at module level comes from the
    standard library and site-packages, before the submission's folder is on the import
    path), then the submission, handed to the adapter as its module."""
    from conformance.running.submission import load_submission

    assignment = Path(locator.where)
    if locator.submission is None:
        shown = locator.given or assignment.name
        cls = adapter_class(module_from_file(assignment, shown), shown, locator.class_name)
        cls.submission = None
        return cls, (), shown
    shown = locator.given or locator.submission
    cls = adapter_class(module_from_file(assignment, assignment.name), assignment.name, locator.class_name)
    module, notes = load_submission(Path(locator.submission), shown, cell_seconds)
    if missing := [name for name in locator.api if not hasattr(module, name)]:
        why = f" ({'; '.join(notes)})" if notes else ""
        raise LoadError(f"{shown} does not define {', '.join(missing)}, which the assignment asks for{why}")
    cls.submission = module
    return cls, notes, assignment.name


def _from_import_path(spec: str) -> type:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise LoadError(f"{spec!r}: an import path reads package.module:AdapterClass")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise LoadError(f"cannot import {module_name!r}: {error}") from None
    except SyntaxError as error:
        raise LoadError(f"syntax error in {error.filename}, line {error.lineno}: {error.msg}") from None
    except (Exception, SystemExit) as error:
        raise LoadError(f"{module_name} failed to import: {describe_exception(error)}") from None
    obj: object = module
    for part in class_name.split("."):
        if not hasattr(obj, part):
            raise LoadError(f"module {module_name!r} has no class {class_name!r}")
        obj = getattr(obj, part)
    return obj


def _from_entry_point(name: str) -> tuple[type, str]:
    from importlib.metadata import entry_points  # here: 20-30 ms, and only this kind of target needs it

    entries = list(entry_points(group=ENTRY_POINT_GROUP, name=name))
    if not entries:
        raise LoadError(f"no entry point {name!r} in group {ENTRY_POINT_GROUP}")
    if len({entry.value for entry in entries}) > 1:
        values = ", ".join(sorted(entry.value for entry in entries))
        raise LoadError(f"entry point {name!r} of group {ENTRY_POINT_GROUP} is ambiguous: {values}")
    entry = entries[0]
    try:
        loaded = entry.load()
    except SyntaxError as error:
        raise LoadError(f"syntax error in {error.filename}, line {error.lineno}: {error.msg}") from None
    except (Exception, SystemExit) as error:
        raise LoadError(f"entry point {name} = {entry.value} failed to load: {describe_exception(error)}") from None
    return loaded, f"entry point {entry.name} = {entry.value}"


def adapter_class(module, path: Path | str, class_name: str | None) -> type:
    """The one adapter class a module defines (or the one named)."""
    defined = {name: obj for name, obj in vars(module).items()
               if inspect.isclass(obj) and obj.__module__ == module.__name__}
    candidates = {name: obj for name, obj in defined.items() if issubclass(obj, Adapter) and obj is not Adapter}
    if class_name is not None:
        if class_name not in defined:
            have = f" (it defines: {', '.join(sorted(candidates))})" if candidates else ""
            raise LoadError(f"{path} has no class {class_name!r}{have}")
        return defined[class_name]
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if len(candidates) > 1:
        names = sorted(candidates)
        raise LoadError(f"{path} defines several adapters ({', '.join(names)}); name one as {path}:{names[0]}")
    if lookalikes := sorted(name for name, obj in defined.items() if looks_like_an_adapter(obj)):
        raise LoadError(f"{path} defines no adapter: class {lookalikes[0]} has forward and backward "
                        f"but does not subclass conformance.Adapter")
    raise LoadError(f"{path} defines no adapter (a subclass of conformance.Adapter)")
