"""Naming implementations: built-in names, file paths, ``module:Class``, entry points,
folders and globs of submissions — without importing any of them.

Every way of naming an implementation ends in a ``Target``: its identity (the
name as given: a built-in's name, a path, ``module:Class``, an entry point's
name) and a ``Locator`` that a sandboxed worker follows to load it
(``conformance.running.loading``). This process reads files only to list a folder and
to tell, from their syntax trees (parsed, never run), which of its ``.py``
files are submissions and which are helper modules the others import. What an adapter calls itself
is display text the worker reports later; it never decides whose results are
whose, nor which recorded known defects apply.

A target that cannot be named raises ``TargetError`` with one line for the
user (``load``), or becomes an ``Unloadable`` next to the others
(``load_all``).

Graded submissions (``submissions``) are students' files and folders, each a
target whose locator names the instructor's assignment and the submission: a
``.py`` file, an ``.ipynb`` notebook, or a folder (a package, or one holding
one notebook or module); a folder holding several is a folder of submissions.

Longer than 300 lines: every way of naming a target (built-in, file, module, entry
point, folder, glob, assignment) is resolved here, without importing any of them.
"""

from __future__ import annotations

import ast
import glob
import os
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.running.copies import imported_names
from conformance.running.loading import ENTRY_POINT_GROUP, Locator
from conformance.running.survey import helpers_of, ignored_entries, outside, same_files
from conformance.running.wire import clean_text

#: The implementations bundled with the suite, in report order.
BUILTINS: dict[str, str] = {
    "reference_numpy": "conformance.implementations.reference_numpy:ReferenceNumpy",
    "class_layers": "conformance.implementations.class_layers:ClassLayers",
    "single_layer_relu": "conformance.implementations.single_layer_relu:SingleLayerRelu",
    "two_layer_sgd": "conformance.implementations.two_layer_sgd:TwoLayerSgd",
    "delta_recursion": "conformance.implementations.delta_recursion:DeltaRecursion",
    "cached_input": "conformance.implementations.cached_input:CachedInput",
}

#: A submission file larger than this is not parsed to tell helper from submission.
MAX_SURVEYED_BYTES = 4 << 20


class TargetError(Exception):
    """A target that cannot be named or loaded; the message is one line for the user."""


@dataclass(frozen=True)
class Target:
    """One implementation to check. ``name`` is its identity; ``adapter`` is set only for
    a class the caller handed over in this process (their own code), ``locator`` for
    everything a worker loads; ``builtin`` for the suite's bundled implementations."""

    name: str
    adapter: type | None = None
    source: str = ""
    locator: Locator | None = None
    builtin: bool = False
    #: What the instructor's side decided for a graded submission (``running.planned``):
    #: which cases count, and the adapter's capabilities; its worker is asked nothing else.
    plan: object | None = None
    #: What the grader noticed about the target's path (one file under two names), one line each.
    flags: tuple[str, ...] = ()

    def new(self):
        return self.adapter()

    @property
    def path(self) -> Path | None:
        """The submission's file (or folder), for a target named by one."""
        if self.locator is not None and self.locator.kind == "assignment":
            return Path(self.locator.submission) if self.locator.submission is not None else None
        return Path(self.locator.where) if self.locator is not None and self.locator.kind == "file" else None

    def loaded_here(self) -> Target:
        """This target with its adapter imported into this process: only for code the
        caller trusts (``--no-isolation``); the interpreter's state is restored afterwards."""
        if self.adapter is not None:
            return self
        from conformance.running.guard import preserved_interpreter_state
        from conformance.running.loading import load_adapter
        from conformance.running.modules import LoadError

        try:
            with preserved_interpreter_state():
                return replace(self, adapter=load_adapter(self.locator))
        except LoadError as error:
            raise TargetError(str(error)) from None


@dataclass(frozen=True)
class Unloadable:
    """A named target that could not be loaded, and the one-line reason."""

    source: str
    reason: str


def builtin_names() -> list[str]:
    return list(BUILTINS)


def builtin(name: str) -> Target:
    return Target(name, source=BUILTINS[name], locator=Locator("module", BUILTINS[name]), builtin=True)


def builtins() -> list[Target]:
    return [builtin(name) for name in BUILTINS]


def installed_names() -> list[str]:
    """Implementations installed packages register under the entry point group (read from
    the packages' metadata; nothing is imported)."""
    from importlib.metadata import entry_points  # here: a worker, which imports this module, never asks

    return sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def load(spec: str) -> Target:
    """A built-in name, ``path/to/file.py[:Class]``, ``module:Class`` or an installed entry
    point's name, as a target (nothing is imported: a worker loads it)."""
    if spec in BUILTINS:
        return builtin(spec)
    path_part, _, class_name = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    if Path(path_part).is_dir():
        raise TargetError(f"{path_part} is a folder; name a .py file in it (conformance check takes folders)")
    if path_part.endswith(".py") or Path(path_part).exists():
        return _file_target(spec, Path(path_part), class_name or None)
    if ":" in spec:
        module, _, cls = spec.partition(":")
        if not module or not cls:
            raise TargetError(f"{spec!r}: an import path reads package.module:AdapterClass")
        return Target(spec, source=spec, locator=Locator("module", spec))
    if spec in installed_names():
        return Target(spec, source=f"entry point {spec}", locator=Locator("entry_point", spec))
    known = ", ".join(BUILTINS)
    installed = f"; installed: {', '.join(installed_names())}" if installed_names() else ""
    raise TargetError(f"unknown implementation {spec!r} (built-in: {known}{installed}; "
                      f"or give path/to/file.py, a folder or module:Class)")


def _file_target(name: str, path: Path, class_name: str | None) -> Target:
    if not path.is_file():
        raise TargetError(f"no such file: {path}")
    if path.suffix != ".py":
        raise TargetError(f"{path} is not a Python file (.py)")
    # A file's name is the submitter's choice: shown and written only as clean text.
    # Known by its path as given (a link is not followed here: see ``copies``).
    return Target(clean_text(name, 300), source=str(path),
                  locator=Locator("file", os.path.abspath(path), class_name, given=clean_text(path, 300)))


def load_all(specs: list[str] | tuple[str, ...]) -> list[Target | Unloadable]:
    """Every target the arguments name, in order: a folder stands for its ``.py`` files
    that are submissions (helper modules are skipped), a glob for its matches. Targets
    that cannot be named are kept as ``Unloadable``; the same file named twice appears once."""
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


def _syntax_tree(path: Path) -> ast.Module | None:
    """The file's syntax tree (parsed, never run); None when it cannot be parsed."""
    try:
        if path.stat().st_size > MAX_SURVEYED_BYTES:
            return None
        return ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
        return None


def _defines_an_adapter(tree: ast.Module) -> bool:
    """Whether a class of the file derives from a name it takes from the suite
    (``conformance.Adapter``, a bundled implementation): read, never run."""
    suite_names = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   and (node.module or "").partition(".")[0] == "conformance" for alias in node.names}
    suite_names |= {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names if alias.name.partition(".")[0] == "conformance"}

    def from_suite(base: ast.expr) -> bool:
        while isinstance(base, ast.Attribute):
            base = base.value
        return isinstance(base, ast.Name) and base.id in suite_names

    return any(isinstance(node, ast.ClassDef) and any(from_suite(b) for b in node.bases) for node in ast.walk(tree))


def submissions_in(files: list[Path]) -> list[Path]:
    """Which files of a folder are submissions rather than helper modules: a helper is a
    module another file of the folder imports, or a file that defines no class; a file
    that defines an adapter is a submission even when another imports it (importing a
    classmate's file never removes the classmate), and so is a file that cannot be parsed
    (its syntax error is then reported)."""
    trees = {path: _syntax_tree(path) for path in files}
    imported = set().union(*(imported_names(tree) for tree in trees.values() if tree is not None))
    return [path for path, tree in trees.items()
            if tree is None or _defines_an_adapter(tree) or (
                path.stem not in imported and any(isinstance(node, ast.ClassDef) for node in ast.walk(tree)))]


def _apart(target: Target, everyone: tuple[str, ...]) -> Target:
    """A submission listed with others: their files are never copied with its own."""
    own = str(Path(target.locator.where).resolve())
    return replace(target, locator=replace(target.locator, apart=tuple(p for p in everyone if p != own)))


def _listed(path: Path, folder: Path, make) -> Target | Unloadable:
    """An entry found by listing a folder: a target, unless it is a link out of the folder."""
    if why := outside(path, folder):
        return Unloadable(clean_text(path, 300), why)
    return make(path)


def _load_folder(folder: Path) -> list[Target | Unloadable]:
    paths = submissions_in(_candidate_files(folder))
    everyone = tuple(str(p.resolve()) for p in paths)
    found = [_listed(path, folder, lambda p: _apart(_file_target(str(p), p, None), everyone))
             for path in paths]
    if not found:
        return [Unloadable(str(folder),
                           f"no .py file in {folder} defines an adapter (a subclass of conformance.Adapter)")]
    return found


def _identity(item: Target | Unloadable) -> tuple:
    if isinstance(item, Unloadable):
        return ("unloadable", item.source, item.reason)
    if item.locator is None:
        return ("class", item.adapter)
    return (item.locator.kind, item.locator.where, item.locator.class_name, item.locator.submission)


def _distinct(loaded: list[Target | Unloadable]) -> list[Target | Unloadable]:
    """Each path named once (two spellings of one path are one target); two paths to one
    file are two targets, both flagged (``survey.same_files``), never merged."""
    unique, seen = [], set()
    for item in loaded:
        if (key := _identity(item)) not in seen:
            seen.add(key)
            unique.append(item)
    files = [(number, item.path) for number, item in enumerate(unique)
             if isinstance(item, Target) and item.path is not None]
    flags = same_files([path for _, path in files], [unique[number].name for number, _ in files])
    for position, (number, _) in enumerate(files):
        if position in flags:
            unique[number] = replace(unique[number], flags=unique[number].flags + (flags[position],))
    return unique


def ignored(specs: list[str] | tuple[str, ...], assignment: bool = False, single: bool = False) -> list[str]:
    """What the folders of submissions named hold that is no one's (see ``survey``)."""
    entries: list[str] = []
    for spec in specs:
        folder = Path(spec)
        if not folder.is_dir() or assignment and (single or is_one_submission(folder)):
            continue
        if assignment:
            notebooks, modules, folders = _entries(folder)
            entries += ignored_entries(folder, (notebooks or modules) + folders)
        else:
            chosen = submissions_in(_candidate_files(folder))
            entries += ignored_entries(folder, chosen, helpers_of(chosen))
    return list(dict.fromkeys(entries))


def private_paths(targets: list[Target], out: Path | str | None) -> tuple[str, ...]:
    """What no worker may see: every file target's file, and the report folder."""
    paths = {str(t.path.resolve()) for t in targets if t.path is not None}
    if out is not None:
        paths.add(str(Path(out).resolve()))
    return tuple(sorted(paths))


# ---- graded submissions ------------------------------------------------------------------

SUBMISSION_SUFFIXES = (".py", ".ipynb")


def _entries(folder: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """A folder's notebooks, Python files and subfolders (hidden, private and test files aside)."""
    def shown(path: Path) -> bool:
        return not path.name.startswith((".", "_", "test_")) and path.name not in ("setup.py", "conftest.py")
    items = [p for p in sorted(folder.iterdir()) if shown(p)]
    return ([p for p in items if p.is_file() and p.suffix == ".ipynb"],
            [p for p in items if p.is_file() and p.suffix == ".py"],
            [p for p in items if p.is_dir()])


def is_one_submission(folder: Path) -> bool:
    """A package, or a folder holding one notebook (or, without one, one module) and no folders."""
    if (folder / "__init__.py").is_file():
        return True
    notebooks, modules, folders = _entries(folder)
    return not folders and (len(notebooks) == 1 or not notebooks and len(modules) == 1)


def submission_target(assignment: Path, path: Path, api: tuple[str, ...] = ()) -> Target:
    """One student's submission, known by its path as given."""
    name = clean_text(path, 300)
    locator = Locator("assignment", str(assignment.resolve()), given=name, submission=os.path.abspath(path), api=api)
    return Target(name, source=str(path), locator=locator)


def _submissions_from(assignment: Path, spec: str, api: tuple[str, ...], single: bool) -> list[Target | Unloadable]:
    path = Path(spec)
    if _has_glob(spec) and not path.exists():
        matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))]
        usable = [m for m in matches if m.is_dir() or m.suffix in SUBMISSION_SUFFIXES]
        if not usable:
            return [Unloadable(spec, f"no notebook, .py file or folder matches {spec}")]
        return [_listed(m, m.parent, lambda p: submission_target(assignment, p, api)) for m in usable]
    if not path.exists():
        return [Unloadable(spec, f"no such file or folder: {spec}")]
    if path.is_dir() and not single and not is_one_submission(path):
        notebooks, modules, folders = _entries(path)
        found = (notebooks or modules) + folders
        if not found:
            return [Unloadable(spec, f"{spec} holds no notebook, .py file or folder to grade")]
        return [_listed(item, path, lambda p: submission_target(assignment, p, api)) for item in found]
    if path.is_file() and path.suffix not in SUBMISSION_SUFFIXES:
        return [Unloadable(spec, f"{spec} is not a notebook (.ipynb), a Python file (.py) or a folder")]
    return [submission_target(assignment, path, api)]


def submissions(assignment: Path | str, specs: list[str] | tuple[str, ...], api: tuple[str, ...] = (),
                single: bool = False) -> list[Target | Unloadable]:
    """Every submission the arguments name, each graded by ``assignment``: files, folders of
    them, globs; ``single`` takes each argument as one submission (a platform's folder)."""
    found: list[Target | Unloadable] = []
    for spec in specs:
        found += _submissions_from(Path(assignment), spec, api, single)
    return _distinct(found)


def as_target(adapter: type | str) -> Target:
    """A target from an adapter class (named by its module and qualified name), or from any name
    ``load`` accepts."""
    if isinstance(adapter, str):
        return load(adapter)
    name = getattr(adapter, "__qualname__", repr(adapter))
    from conformance.contract.rules import class_problems

    if problem := class_problems(adapter, name):
        raise TargetError(problem)
    return Target(f"{adapter.__module__}:{name}", adapter, f"{adapter.__module__}:{name}")
