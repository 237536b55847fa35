"""The run's journal: each target's rows, written as soon as the target is done.

A run killed from outside (SIGKILL, a lost machine) leaves ``journal.jsonl``
in the report folder with every finished target's rows; ``--resume`` reads it
back and runs only the targets it may take from it. One line per target: its
identity, the run's fingerprint (cases, seed, options and limits that change
rows), the suite's version, the content digests of the submission and of the
assignment (``copies.digests``), its rows as plain values, and a MAC over all
of that with a key only the grader's user can read (``KEY``, outside the report
folder and hidden from workers).

``--resume`` reuses a line only where every one of those matches now, the MAC
holds, and every row passes the checks a worker's reply passes (known columns
of the right types, verdicts and checks the suite has, the run's own cases with
their own fields, every case of the run accounted for). Anything else runs
again, and ``rejected`` says why, one line per target. Read back as JSON, never
executed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

from conformance.judge.results import CHECKS, COLUMNS, VERDICTS, ResultRow, case_fields
from conformance.running.wire import clean_text

FILE = "journal.jsonl"
_TYPES = {f.name: f.type for f in fields(ResultRow)}
_KEYS = {"target", "fingerprint", "suite", "submission", "assignment", "rows", "mac"}
#: The most characters a journaled text column may hold.
MAX_TEXT = 20000


def key_path() -> Path:
    """Where the journal's key lives: the grader's own state folder (``XDG_STATE_HOME``)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "conformance" / "journal.key"


def _key() -> bytes:
    """The grader's journal key (made on first use, readable by its user only); b'' if unusable."""
    path = key_path()
    try:
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes()
            return key if len(key) == 32 else b""
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_bytes(32))
        return path.read_bytes()
    except OSError:
        return b""


@functools.lru_cache(maxsize=1)
def suite_version() -> str:
    """The suite's version and a digest of its own source: a changed suite reuses nothing."""
    from conformance import __version__

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def _mac(key: bytes, entry: dict) -> str:
    body = json.dumps({k: v for k, v in entry.items() if k != "mac"}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


class Rejected(ValueError):
    """A journal line that may not stand; the message says why, for the run's output."""


@dataclass
class Journal:
    """Appends finished targets to ``folder/journal.jsonl`` (fsynced), and reads them back."""

    folder: Path
    fingerprint: str
    #: Targets a resumed run ran again although the journal held them, and why.
    rejected: list[str] = field(default_factory=list)
    _digests: dict = field(default_factory=dict)
    _cases: dict = field(default_factory=dict)
    _key: bytes = b""

    @property
    def path(self) -> Path:
        return self.folder / FILE

    def start(self, resume: bool, targets: Sequence = (), cases: Sequence = ()) -> dict[str, list[ResultRow]]:
        """The rows of ``targets`` a previous run journaled and that may stand now (when
        resuming), else an empty journal."""
        from conformance.running.copies import digests

        self._key = _key()
        self._digests = {t.name: digests(t.locator) for t in targets}
        self._cases = {c.id: c for c in cases}
        done = self._read() if resume else {}
        if not resume and self.path.exists():
            self.path.unlink()
        return done

    def record(self, target: str, rows: list[ResultRow]) -> None:
        submission, assignment = self._digests.get(target, ("", ""))
        entry = {"target": target, "fingerprint": self.fingerprint, "suite": suite_version(),
                 "submission": submission, "assignment": assignment,
                 "rows": [[_plain(getattr(r, c)) for c in COLUMNS] for r in rows]}
        entry["mac"] = _mac(self._key, entry) if self._key else ""
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def _read(self) -> dict[str, list[ResultRow]]:
        done: dict[str, list[ResultRow]] = {}
        why: dict[str, str] = {}
        if not self.path.exists():
            return done
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by the kill: that target runs again
            target = entry.get("target") if isinstance(entry, dict) else None
            if not isinstance(target, str) or target not in self._digests:
                continue  # not a target of this run
            try:
                done[target] = self._checked(entry)
                why.pop(target, None)
            except Rejected as error:
                done.pop(target, None)
                why[target] = str(error)
        self.rejected = [f"{clean_text(target, 300)} runs again: {reason}" for target, reason in why.items()]
        return done

    def _checked(self, entry: dict) -> list[ResultRow]:
        """The entry's rows, if the entry may stand in this run (``Rejected`` says why not)."""
        if set(entry) != _KEYS or not all(isinstance(entry[k], str) for k in _KEYS - {"rows"}):
            raise Rejected("its journal line is not one this suite writes")
        if not self._key or not hmac.compare_digest(entry["mac"], _mac(self._key, entry)):
            raise Rejected("its journal line was not written by this grader, or was changed since")
        if entry["suite"] != suite_version():
            raise Rejected(f"it was journaled by another version of the suite ({clean_text(entry['suite'], 40)})")
        if entry["fingerprint"] != self.fingerprint:
            raise Rejected("it was journaled with other cases, seed, options or limits")
        submission, assignment = self._digests[entry["target"]]
        if entry["submission"] != submission:
            raise Rejected("the submission changed since it was journaled")
        if entry["assignment"] != assignment:
            raise Rejected("the assignment changed since it was journaled")
        return _rows(entry["rows"], entry["target"], self._cases)


def _plain(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def _rows(raw: object, target: str, cases: dict) -> list[ResultRow]:
    """Journaled rows checked as a worker's reply is: shape, types, values the suite can give."""
    if not (isinstance(raw, list) and raw):
        raise Rejected("its journal line holds no rows")
    rows = [_row(values, target, cases) for values in raw]
    if missing := set(cases) - {r.case for r in rows}:
        raise Rejected(f"its journal line lacks {len(missing)} of the run's cases")
    return rows


def _value(name: str, value: object):
    kind = _TYPES[name]
    if kind == "float":
        if value is None:
            return float("nan")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
            return float(value)
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif isinstance(value, str) and len(value) <= MAX_TEXT:
        return value
    raise Rejected(f"its journal line has an unusable {name}")


def _row(values: object, target: str, cases: dict) -> ResultRow:
    if not (isinstance(values, list) and len(values) == len(COLUMNS)):
        raise Rejected("its journal line has a row of the wrong length")
    row = ResultRow(**{name: _value(name, value) for name, value in zip(COLUMNS, values)})
    if row.implementation != target:
        raise Rejected("its journal line has rows of another target")
    case = cases.get(row.case)
    if case is None or any(getattr(row, k) != v for k, v in case_fields(target, case).items()):
        raise Rejected(f"its journal line has a row of a case this run does not have ({clean_text(row.case, 80)})")
    if row.verdict not in VERDICTS or row.check not in CHECKS:
        raise Rejected("its journal line has a verdict or check the suite does not give")
    return row
