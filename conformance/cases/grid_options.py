"""The grid a user chooses: ``--widths``, ``--batch``, ``--depth``, ``--dtype``, ``--loss`` and
``--activation`` on the command line, or the same keys in a ``[tool.conformance]`` table of
the ``pyproject.toml`` in the current folder (the command line wins, key by key).

Each option takes a comma-separated list (``--depth 2,3``, ``--loss vjp,mse``); in the
table a key takes a list or the same string (``depth = [2, 3]``, ``widths = ["3-5-5-1"]``).
A network's widths are written input first and joined by ``-``: ``3-5-5-1`` is
3 → 5 → 5 → 1. Every mistake is one ``GridOptionError`` line naming the valid values.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Callable, Mapping

from conformance.cases.spec import ACTIVATIONS, DTYPES
from conformance.cases.grid import ALL_MODES, GridChoice

#: Option (and table key) → the ``GridChoice`` field it sets.
FIELDS = {"widths": "widths", "batch": "batches", "depth": "depths", "dtype": "dtypes", "loss": "modes",
          "activation": "activations"}
TABLE = "tool.conformance"


class GridOptionError(ValueError):
    """A grid option that cannot be used; the message is one line for the user."""


def _items(option: str, value: object) -> list[str]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = [str(part).strip() for part in value]
    else:
        items = [str(value)]
    if not items or not all(items):
        raise GridOptionError(f"{option}: expected a comma-separated list, got {value!r}")
    return items


def _names(known: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(option: str, item: str) -> str:
        if item not in known:
            raise GridOptionError(f"{option}: unknown value {item!r}; valid: {', '.join(known)}")
        return item
    return parse


def _whole(option: str, item: str) -> int:
    try:
        value = int(item)
    except ValueError:
        value = 0
    if value < 1 or str(value) != item.lstrip("+"):
        raise GridOptionError(f"{option}: {item!r} is not a whole number of at least 1; valid: 1, 2, 3, …")
    return value


def _widths(option: str, item: str) -> tuple[int, ...]:
    parts = item.split("-")
    try:
        widths = tuple(int(part) for part in parts)
    except ValueError:
        widths = ()
    if len(widths) < 2 or min(widths) < 1:
        raise GridOptionError(f"{option}: {item!r} is not a network's widths; valid: at least two whole numbers "
                              f"of at least 1, input first, joined by '-' (e.g. 3-5-5-1)")
    return widths


PARSERS = {"widths": _widths, "batch": _whole, "depth": _whole, "dtype": _names(DTYPES), "loss": _names(ALL_MODES),
           "activation": _names(ACTIVATIONS)}


def choice_from(values: Mapping[str, object], source: str = "--") -> GridChoice:
    """A ``GridChoice`` from option values by option name (None or absent: the grid's own)."""
    fields = {}
    for option, value in values.items():
        if value is None:
            continue
        if option not in FIELDS:
            raise GridOptionError(f"{source}: unknown key {option!r}; valid: {', '.join(FIELDS)}")
        label = f"--{option}" if source == "--" else f"{source} {option}"
        fields[FIELDS[option]] = tuple(dict.fromkeys(PARSERS[option](label, item) for item in _items(label, value)))
    return GridChoice(**fields)


def from_pyproject(folder: Path | str = ".") -> dict[str, object]:
    """The ``[tool.conformance]`` table of ``folder/pyproject.toml`` (empty when there is none)."""
    path = Path(folder) / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as error:
        raise GridOptionError(f"{path}: cannot read it ({error})") from None
    table = document.get("tool", {}).get("conformance", {})
    if not isinstance(table, dict):
        raise GridOptionError(f"{path}: [{TABLE}] must be a table")
    if unknown := sorted(set(table) - set(FIELDS)):
        raise GridOptionError(f"{path} [{TABLE}]: unknown key {unknown[0]!r}; valid: {', '.join(FIELDS)}")
    return dict(table)


def choose(options: Mapping[str, object], folder: Path | str = ".") -> GridChoice:
    """The user's grid: the command line's options over the ``pyproject.toml`` table's keys."""
    table = from_pyproject(folder)
    path = Path(folder) / "pyproject.toml"
    merged = choice_from(table, f"{path} [{TABLE}]")
    given = {option: value for option, value in options.items() if value is not None}
    if not given:
        return merged
    chosen = choice_from(given)
    return GridChoice(**{name: getattr(chosen, name) if getattr(chosen, name) is not None else getattr(merged, name)
                         for name in FIELDS.values()})


def describe(choice: GridChoice) -> str:
    """What the choice changes, for the report's environment (empty for the default grid)."""
    parts = []
    for option, name in FIELDS.items():
        value = getattr(choice, name)
        if value is not None:
            shown = ["-".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in value]
            parts.append(f"--{option} {','.join(shown)}")
    return " ".join(parts)
