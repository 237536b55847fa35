"""Private copies: each worker loads its submission from a folder of its own.

Before a worker starts, the grading process copies what the target is — a
``.py`` file, a notebook, a folder — into a fresh folder, and the worker is
pointed at the copy; the instructor's assignment file is copied next to it,
into a folder of its own. A worker's import path is then, in this order, the
copy's folder, the assignment's folder, the interpreter's standard library and
site-packages (``worker`` starts in isolated mode, so neither the grader's
current folder nor ``PYTHONPATH`` is on it). Nothing another submission's
folder holds is on it.

A ``.py`` file checked by ``conformance check`` takes along the neighbouring
modules and packages it imports (an ``import`` statement at any depth, read
from the syntax tree, never run), unless a neighbour is named like a module of
the standard library, an installed package or the suite itself: such a file
would shadow that module for whoever imported it, so it is nobody's.

Copying follows a symbolic link only where it stays inside the folder it was
found in (a submission's own folder, the folder of submissions), reads only
regular files and folders, and stops at ``MAX_BYTES`` and ``MAX_FILES``.
``module`` targets are not copied: they are the engineer's installed or named
code, and the folder their top-level package was found in is appended to the
worker's import path, after site-packages (``roots``).
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import os
import pkgutil
import shutil
import site
import stat
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from conformance.running.loading import ENTRY_POINT_GROUP, Locator

MAX_BYTES = 256 << 20
MAX_FILES = 4000
#: The suite's own top-level name: no submission's helper may take it.
SUITE_NAMES = frozenset({"conformance"})


class CopyError(Exception):
    """The target cannot be copied; the message is one line for the user."""


@functools.lru_cache(maxsize=1)
def reserved_names() -> frozenset[str]:
    """Top-level names a helper module in a shared folder may not take: the standard
    library's, the installed packages' and the suite's own."""
    installed = {module.name for module in pkgutil.iter_modules(site.getsitepackages())}
    return frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names) | installed | SUITE_NAMES


def reserved_because(name: str) -> str:
    """Why a module name is reserved, in words ('' when it is not)."""
    if name in SUITE_NAMES:
        return "named like the grader's own package"
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        return f"named like the standard library's module {name}"
    return f"named like the installed package {name}" if name in reserved_names() else ""


@dataclass
class _Budget:
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)

    def spend(self, size: int, shown: str) -> None:
        self.files, self.bytes = self.files + 1, self.bytes + size
        if self.files > MAX_FILES or self.bytes > MAX_BYTES:
            raise CopyError(f"{shown} is larger than a submission may be ({MAX_FILES} files, "
                            f"{MAX_BYTES >> 20} MiB)")


def _inside(path: Path, boundary: Path) -> Path | None:
    """The file a path names, following links, when that stays inside ``boundary``."""
    real = path.resolve()
    return real if real == boundary or real.is_relative_to(boundary) else None


def _copy(source: Path, target: Path, boundary: Path, budget: _Budget, shown: str, seen=frozenset()) -> None:
    """Copy a regular file or a folder (recursively): links followed inside ``boundary`` only,
    anything else (devices, pipes, sockets, links out) left out and noted."""
    real = _inside(source, boundary)
    if real is None:
        budget.skipped.append(f"{shown} (a symbolic link out of the submission)")
        return
    info = os.stat(real)
    if stat.S_ISREG(info.st_mode):
        budget.spend(info.st_size, shown)
        shutil.copyfile(real, target)
        os.chmod(target, 0o644)
    elif stat.S_ISDIR(info.st_mode):
        if (info.st_dev, info.st_ino) in seen:
            budget.skipped.append(f"{shown} (a link back into its own folder)")
            return
        target.mkdir(mode=0o755)
        for entry in sorted(os.listdir(real)):
            _copy(real / entry, target / entry, boundary, budget, f"{shown}/{entry}",
                  seen | {(info.st_dev, info.st_ino)})
    else:
        budget.skipped.append(f"{shown} (not a regular file or folder)")


def _imported(path: Path) -> set[str]:
    """Top-level names a Python file imports (absolute imports), from its syntax tree."""
    try:
        return imported_names(ast.parse(path.read_bytes(), filename=str(path)))
    except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
        return set()


def imported_names(tree: ast.Module) -> set[str]:
    """Top-level names a syntax tree imports (absolute imports)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def neighbours(file: Path, apart: tuple[str, ...] = ()) -> list[Path]:
    """The modules and packages of a file's folder it imports, directly or through one
    another, that may be copied with it (none named like a reserved module, none of the
    other submissions ``apart``)."""
    folder, found, todo = file.parent, [], [file]
    others = set(apart)
    while todo:
        current = todo.pop()
        sources = [current] if current.is_file() else sorted(current.rglob("*.py"))[:MAX_FILES]
        for name in sorted(set().union(*(_imported(s) for s in sources))):
            if reserved_because(name):
                continue
            for candidate in (folder / f"{name}.py", folder / name):
                if (candidate not in found and candidate != file and candidate.exists()
                        and str(candidate.resolve()) not in others):
                    found.append(candidate)
                    todo.append(candidate)
                    break
    return found


@dataclass(frozen=True)
class PrivateCopy:
    """A target's private copy: ``locator`` finds the target in it; ``root`` (None for a
    target that is not copied) is what a worker may read, and is removed with ``remove``;
    ``notes`` say what copying left out."""

    locator: Locator
    root: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def readable(self) -> tuple[str, ...]:
        """The copy, and where a ``module:Class`` target's package is found (it is not copied)."""
        return ((str(self.root),) if self.root is not None else ()) + self.locator.roots

    @property
    def workdir(self) -> str:
        return self.locator.folder or "/tmp"

    def remove(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def _module_roots(spec: str) -> tuple[str, ...]:
    """The folder a ``module:Class`` target's top-level package is found in, from this
    process's import path and current folder (nothing is imported)."""
    top = spec.partition(":")[0].partition(".")[0]
    if not top or top in SUITE_NAMES:
        return ()
    module = sys.modules.get(top)
    found = getattr(module, "__spec__", None) if module is not None else None
    if found is None:
        search = [p or os.getcwd() for p in sys.path] + [os.getcwd()]
        try:
            found = importlib.machinery.PathFinder.find_spec(top, search)
        except (ImportError, ValueError):
            found = None
    if found is None:
        return ()
    places = list(found.submodule_search_locations or []) or ([found.origin] if found.origin else [])
    return tuple(dict.fromkeys(str(Path(p).parent) for p in places if p and os.path.isabs(p)))


def _entry_point_roots(name: str) -> tuple[str, ...]:
    """Where an installed entry point's distribution and module are found (its metadata is
    read there in the worker); nothing for a name no distribution installs."""
    from importlib.metadata import entry_points

    found = [entry for entry in entry_points(group=ENTRY_POINT_GROUP) if entry.name == name]
    if not found:
        return ()
    entry = found[0]
    site = (str(Path(str(entry.dist.locate_file(""))).resolve()),) if entry.dist is not None else ()
    return tuple(dict.fromkeys(site + _module_roots(entry.value)))


def _copy_one(source: Path, into: Path, budget: _Budget, shown: str) -> Path:
    """Copy the file or folder a target names (a link named directly is followed: the
    naming stage refused links out of a folder of submissions); a folder is the boundary
    of the links it holds."""
    real = source.resolve()
    if not real.exists():
        raise CopyError(f"no such file or folder: {shown}")
    into.mkdir(mode=0o755, exist_ok=True)
    _copy(real, into / source.name, real if real.is_dir() else real.parent, budget, shown)
    if not (into / source.name).exists():
        raise CopyError(f"{shown} is not a regular file or folder")
    return into / source.name


def private_copy(locator: Locator) -> PrivateCopy:
    """The target copied into a fresh folder of its own (``CopyError`` when it cannot be)."""
    if locator.kind not in ("file", "assignment"):
        roots = (_module_roots(locator.where) if locator.kind == "module"
                 else _entry_point_roots(locator.where) if locator.kind == "entry_point" else ())
        return PrivateCopy(replace(locator, roots=roots))
    root = Path(tempfile.mkdtemp(prefix="conformance-copy-"))
    os.chmod(root, 0o755)  # a worker running as another user reads it
    budget = _Budget()
    try:
        if locator.kind == "file":
            source = Path(locator.where)
            copied = _copy_one(source, root / "submission", budget, locator.given or str(source))
            for helper in neighbours(source.resolve(), locator.apart):  # as ``python file.py`` finds them
                _copy(helper, root / "submission" / helper.name, source.resolve().parent, budget, helper.name)
            moved = replace(locator, where=str(copied))
        else:  # a graded submission, or the assignment alone (the instructor's worker)
            copied = None
            if locator.submission is not None:
                source = Path(locator.submission)
                copied = _copy_one(source, root / "submission", budget, locator.given or str(source))
            assignment = Path(locator.where)
            (root / "assignment").mkdir(mode=0o755)
            shutil.copyfile(assignment, root / "assignment" / assignment.name)
            os.chmod(root / "assignment" / assignment.name, 0o644)
            moved = replace(locator, where=str(root / "assignment" / assignment.name),
                            submission=None if copied is None else str(copied))
    except CopyError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    except OSError as error:
        shutil.rmtree(root, ignore_errors=True)
        raise CopyError(f"{locator.given or locator.where} cannot be copied: {error.strerror or error}") from None
    notes = tuple(f"not copied: {item}" for item in budget.skipped[:20])
    return PrivateCopy(moved, root, notes)


# ---- what a copy holds, as a digest (the journal's check that a submission is unchanged) ------

def _feed(digest, path: Path, name: str, boundary: Path, budget: _Budget) -> None:
    real = _inside(path, boundary)
    if real is None:
        return
    info = os.stat(real)
    if stat.S_ISREG(info.st_mode):
        budget.spend(info.st_size, name)
        digest.update(f"file {name} {info.st_size}\n".encode())
        with open(real, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    elif stat.S_ISDIR(info.st_mode) and budget.files < MAX_FILES:
        digest.update(f"folder {name}\n".encode())
        for entry in sorted(os.listdir(real)):
            _feed(digest, real / entry, f"{name}/{entry}", boundary, budget)


def digests(locator: Locator | None) -> tuple[str, str]:
    """(the submission's, the assignment's) content digests: what a private copy of the target
    holds (a checked file with the neighbours it takes along); '' where there is no file."""
    import hashlib

    if locator is None or locator.kind not in ("file", "assignment"):
        return "", ""
    if locator.kind == "assignment" and locator.submission is None:
        return "", hashlib.sha256(Path(locator.where).read_bytes()).hexdigest()
    source = Path(locator.where if locator.kind == "file" else locator.submission).resolve()
    digest, budget = hashlib.sha256(), _Budget()
    try:
        _feed(digest, source, source.name, source if source.is_dir() else source.parent, budget)
        if locator.kind == "file":
            for helper in neighbours(source, locator.apart):
                _feed(digest, helper, helper.name, source.parent, budget)
            return digest.hexdigest(), ""
        return digest.hexdigest(), hashlib.sha256(Path(locator.where).read_bytes()).hexdigest()
    except (OSError, CopyError):
        return "unreadable", "unreadable"
