"""The run's journal: each target's rows, written as soon as the target is done.

A run killed from outside (SIGKILL, a lost machine) leaves ``journal.jsonl``
in the report folder with every finished target's rows; ``--resume`` reads it
back and runs only the targets it lacks. One line per target: its identity,
the run's fingerprint (seed, grid, options that change rows) and its rows as
plain values. Written by this process only, read back as JSON and checked
field by field, never executed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

from conformance.judge.results import COLUMNS, ResultRow

FILE = "journal.jsonl"
_TYPES = {f.name: f.type for f in fields(ResultRow)}


@dataclass
class Journal:
    """Appends finished targets to ``folder/journal.jsonl`` (fsynced), and reads them back."""

    folder: Path
    fingerprint: str

    @property
    def path(self) -> Path:
        return self.folder / FILE

    def start(self, resume: bool) -> dict[str, list[ResultRow]]:
        """The rows of targets a previous run of the same fingerprint finished (when
        resuming), else an empty journal."""
        done = self._read() if resume else {}
        if not resume and self.path.exists():
            self.path.unlink()
        return done

    def record(self, target: str, rows: list[ResultRow]) -> None:
        line = json.dumps({"target": target, "fingerprint": self.fingerprint,
                           "rows": [[_plain(getattr(r, c)) for c in COLUMNS] for r in rows]})
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())

    def _read(self) -> dict[str, list[ResultRow]]:
        done: dict[str, list[ResultRow]] = {}
        if not self.path.exists():
            return done
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                if entry["fingerprint"] == self.fingerprint:
                    done[str(entry["target"])] = [_row(values) for values in entry["rows"]]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by the kill: that target runs again
        return done


def _plain(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def _row(values: list) -> ResultRow:
    if not (isinstance(values, list) and len(values) == len(COLUMNS)):
        raise ValueError("a journal row of the wrong length")
    typed = {}
    for name, value in zip(COLUMNS, values):
        kind = _TYPES[name]
        if kind == "float":
            typed[name] = float("nan") if value is None else float(value)
        elif kind == "int":
            typed[name] = int(value)
        elif kind == "bool":
            typed[name] = bool(value)
        else:
            typed[name] = str(value)
    return ResultRow(**typed)
