"""``conformance check ops.py`` on a file that declares its functions: a module-level
``FUNCTIONS`` dict of plain literals, read from the file's text (``ast.literal_eval``, never
run here), each entry naming a callable of the file and its inputs:

    FUNCTIONS = {
        "LinearGelu": {"inputs": {"x": (4, 8), "w": (3, 8), "b": (3,)}, "reference": "gelu_ref"},
        "affine_forward": {"inputs": {"x": (5, 4), "w": (4, 3), "b": (3,)}, "backward": "affine_backward"},
        "Affine": {"layer": True, "inputs": {"x": (5, 4)}, "params": ["W", "b"]},
        "gather": {"inputs": {"x": (4, 6), "idx": ("index", (4,), 6), "mask": ("mask", (4, 6))}},
    }

An input is a shape, or ``("index", shape, high)``, ``("mask", shape)``, ``("constant", shape)``.
Optional keys: ``backward`` (a NumPy forward's backward), ``cache`` (true/false: whether the
forward returns ``(output, cache)``), ``reference`` (the same function in plain PyTorch ops),
``layer`` (the name is a class, made with no arguments), ``params`` (a layer's parameters),
``dtypes``, ``shapes``, ``seed``. The file's code runs in a sandboxed worker only
(``running.function_worker``), unless isolation is turned off.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.functions.inputs import Constant, Index, InputSpec, Mask, from_description

DECLARATION = "FUNCTIONS"
KEYS = {"inputs", "backward", "cache", "reference", "layer", "params", "dtypes", "shapes", "seed"}
MARKERS = {"index": (Index, 3), "mask": (Mask, 2), "constant": (Constant, 2)}


class DeclarationError(Exception):
    """The declarations cannot be read; one line for the user."""


@dataclass(frozen=True)
class Declared:
    """One declared function, as plain data."""

    name: str
    specs: tuple[InputSpec, ...]
    backward: str | None = None
    cache: bool | None = None
    reference: str | None = None
    layer: bool = False
    params: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ("float64", "float32")
    shapes: int = 2
    seed: int = 0

    @property
    def key(self) -> tuple:
        """What the worker resolves the callable by (``function_host.Key``)."""
        return (self.name, self.backward, self.layer, self.params, self.cache)


def _literal(path: Path) -> object | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError as error:
        raise DeclarationError(f"syntax error in {path}, line {error.lineno}: {error.msg}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DeclarationError(f"cannot read {path}: {error}") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == DECLARATION for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                raise DeclarationError(f"{path}, line {node.lineno}: {DECLARATION} must be a plain literal "
                                       "(a dict of dicts, tuples, strings and numbers)") from None
    return None


def declares_functions(path: str | Path) -> bool:
    """Whether ``path`` is a ``.py`` file with a module-level ``FUNCTIONS`` (read, never run)."""
    path = Path(path)
    if path.suffix != ".py" or not path.is_file():
        return False
    try:
        return _literal(path) is not None
    except DeclarationError:  # a file that cannot be parsed declares when a line begins "FUNCTIONS ="
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        return re.search(rf"^{DECLARATION}\s*=", text, re.MULTILINE) is not None


def _input(name: str, value: Any, where: str) -> Any:
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], str):
        kind, size = MARKERS.get(value[0], (None, 0))
        if kind is None or len(value) != size:
            raise DeclarationError(f"{where}: input {name!r} is a shape, ('index', shape, high), ('mask', shape) "
                                   f"or ('constant', shape), got {value!r}")
        return kind(*value[1:])
    return value


def _names(value: Any, what: str, where: str) -> tuple[str, ...]:
    if not (isinstance(value, (list, tuple)) and all(isinstance(v, str) and v.isidentifier() for v in value)):
        raise DeclarationError(f"{where}: {what} must be a list of names")
    return tuple(value)


def _one(name: Any, entry: Any, where: str) -> Declared:
    if not (isinstance(name, str) and name.isidentifier()):
        raise DeclarationError(f"{where}: {name!r} is not the name of a function or class of the file")
    where = f"{where}, {name}"
    if not isinstance(entry, dict) or "inputs" not in entry:
        raise DeclarationError(f"{where}: an entry is a dict with at least 'inputs'")
    if unknown := set(entry) - KEYS:
        raise DeclarationError(f"{where}: unknown keys {sorted(unknown)}; the keys are {sorted(KEYS)}")
    inputs = entry["inputs"]
    if not isinstance(inputs, dict):
        raise DeclarationError(f"{where}: 'inputs' must map names to shapes")
    try:
        specs = from_description({k: _input(k, v, where) for k, v in inputs.items()})
    except ValueError as error:
        raise DeclarationError(f"{where}: {error}") from None
    for key in ("backward", "reference"):
        if entry.get(key) is not None and not (isinstance(entry[key], str) and entry[key].isidentifier()):
            raise DeclarationError(f"{where}: {key!r} names a function of the file")
    dtypes = _names(entry.get("dtypes", ["float64", "float32"]), "dtypes", where)
    if not set(dtypes) <= {"float64", "float32"} or not dtypes:
        raise DeclarationError(f"{where}: dtypes are float64 and/or float32")
    shapes, seed = entry.get("shapes", 2), entry.get("seed", 0)
    if not (type(shapes) is int and 1 <= shapes <= 4 and type(seed) is int and seed >= 0):
        raise DeclarationError(f"{where}: shapes is 1 to 4 and seed a whole number")
    return Declared(name, specs, entry.get("backward"), entry.get("cache"), entry.get("reference"),
                    bool(entry.get("layer", False)), _names(entry.get("params", ()), "params", where), dtypes,
                    shapes, seed)


def read_declarations(path: str | Path) -> tuple[Declared, ...]:
    """Every declared function of the file, validated."""
    path = Path(path)
    found = _literal(path)
    if not isinstance(found, dict) or not found:
        raise DeclarationError(f"{path}: {DECLARATION} must be a non-empty dict of name -> "
                               "{'inputs': {...}, ...}")
    return tuple(_one(name, entry, str(path)) for name, entry in found.items())
