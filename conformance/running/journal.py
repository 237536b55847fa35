"""The run's journal: each target's rows, written case by case as the run goes.

Longer than 300 lines: what a line holds and every check it passes when read back belong
together, so that no field is written that is not checked.

A run killed from outside (SIGKILL, a lost machine) leaves ``journal.jsonl``
in the report folder with the rows of every case that finished; ``--resume``
reads it back, takes every target that finished and the finished cases of the
others, and runs only the rest. A line holds the rows of the cases of one target
that finished within ``FLUSH_S`` of each other (a case that did not apply as its
reason and the case's position), or says that the target finished, with the rows
added then (``coverage``). Each line holds its target's identity, the run's
fingerprint (cases, seed, options and limits that change rows), the suite's
version, the content digests of the submission and of the assignment
(``copies.digests``), its rows as plain values, and a MAC over all of that with
a key only the grader's user can read (``KEY``, outside the report folder and
hidden from workers). The grader writes it; no worker ever does.

A run that completes removes its journal once its report is written whole
(``remove``): the report holds every row, nothing is left to resume, and the
journal of a class is tens of MB. An interrupted run, or one whose report could
not be written, keeps it.

``--resume`` reuses a line only where every one of those matches now, the MAC
holds, and every row passes the checks a worker's reply passes (known columns
of the right types, verdicts and checks the suite has, the run's own cases with
their own fields, every case the line names accounted for). Anything else runs
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
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

from conformance.judge.results import CHECKS, COLUMNS, VERDICTS, ResultRow, case_fields, row
from conformance.judge.skipped import is_skipped
from conformance.running.wire import clean_text

FILE = "journal.jsonl"
_TYPES = {f.name: f.type for f in fields(ResultRow)}
_KEYS = {"target", "fingerprint", "suite", "submission", "assignment", "cases", "rows", "skipped", "done", "mac"}
_TEXT_KEYS = ("target", "fingerprint", "suite", "submission", "assignment", "mac")
#: Finished cases are written together when this many seconds have passed since the last write.
FLUSH_S = 0.5
#: The most characters a journaled text column may hold.
MAX_TEXT = 20000


def remove(folder: Path) -> None:
    """The journal in ``folder`` removed (a complete run's: its report holds every row)."""
    (folder / FILE).unlink(missing_ok=True)


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
    """Appends finished cases and targets to ``folder/journal.jsonl`` (fsynced), and reads them back.
    Cases are known by their position in the run's cases (two random cases may share an id)."""

    folder: Path
    fingerprint: str
    #: Targets a resumed run ran again (all or some of their cases) although the journal held them, and why.
    rejected: list[str] = field(default_factory=list)
    #: The finished cases of the targets a resumed run takes up again: by target, rows by case position.
    partial: dict[str, dict[int, list[ResultRow]]] = field(default_factory=dict)
    _digests: dict = field(default_factory=dict)
    _cases: list = field(default_factory=list)
    _key: bytes = b""
    _pending: dict = field(default_factory=dict)
    _written: dict = field(default_factory=dict)
    _flushed: float = 0.0

    @property
    def path(self) -> Path:
        return self.folder / FILE

    def start(self, resume: bool, targets: Sequence = (), cases: Sequence = ()) -> dict[str, list[ResultRow]]:
        """The rows of ``targets`` a previous run journaled as finished and that may stand now
        (when resuming; the finished cases of the others go to ``partial``), else an empty journal."""
        from conformance.running.copies import digests

        self._key = _key()
        self._digests = {t.name: digests(t.locator) for t in targets}
        self._cases = list(cases)
        self._flushed = time.monotonic()
        done = self._read() if resume else {}
        self._written = {target: set(by_case) for target, by_case in self.partial.items()}  # not written twice
        if not resume and self.path.exists():
            self.path.unlink()
        return done

    def case_done(self, target: str, index: int, rows: list[ResultRow]) -> None:
        """The case at ``index`` of ``target`` finished: written with the others that finish within ``FLUSH_S``."""
        self._pending.setdefault(target, {})[index] = rows
        if time.monotonic() - self._flushed >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Write every finished case not written yet."""
        entries = [self._entry(target, by_case) for target, by_case in self._pending.items() if by_case]
        self._pending.clear()
        self._append(entries)

    def record(self, target: str, by_case: dict[int, list[ResultRow]], added: Sequence[ResultRow] = ()) -> None:
        """``target`` finished: its cases not written yet, then a line saying so with the rows ``added`` then."""
        pending = self._pending.pop(target, {})
        written = self._written.get(target, set())
        left = {i: rows for i, rows in by_case.items() if i not in written} | pending
        entries = [self._entry(target, dict(sorted(left.items())))] if left else []
        self._append(entries + [self._entry(target, {}, list(added))])

    def _entry(self, target: str, by_case: dict[int, list[ResultRow]], added: list | None = None) -> dict:
        self._written.setdefault(target, set()).update(by_case)
        skipped: dict[str, list[int]] = {}
        rows = []
        for index, case_rows in by_case.items():
            if len(case_rows) == 1 and is_skipped(case_rows[0]):
                skipped.setdefault(case_rows[0].detail, []).append(index)
            else:
                rows += case_rows
        submission, assignment = self._digests.get(target, ("", ""))
        entry = {"target": target, "fingerprint": self.fingerprint, "suite": suite_version(),
                 "submission": submission, "assignment": assignment, "cases": list(by_case),
                 "rows": [[_plain(getattr(r, c)) for c in COLUMNS] for r in (rows if added is None else added)],
                 "skipped": [[reason, indices] for reason, indices in skipped.items()], "done": added is not None}
        entry["mac"] = _mac(self._key, entry) if self._key else ""
        return entry

    def _append(self, entries: list[dict]) -> None:
        self._flushed = time.monotonic()
        if not entries:
            return
        with open(self.path, "a", encoding="utf-8") as file:
            file.write("".join(json.dumps(entry) + "\n" for entry in entries))
            file.flush()
            os.fsync(file.fileno())

    def _read(self) -> dict[str, list[ResultRow]]:
        if not self.path.exists():
            return {}
        found: dict[str, dict[int, list[ResultRow]]] = {}
        added: dict[str, list[ResultRow]] = {}
        why: dict[str, str] = {}
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by the kill: its cases run again
            target = entry.get("target") if isinstance(entry, dict) else None
            if not isinstance(target, str) or target not in self._digests:
                continue  # not a target of this run
            try:
                by_case, extra = self._checked(entry)
            except Rejected as error:
                why[target] = str(error)
                continue
            found.setdefault(target, {}).update(by_case)
            if extra is not None:
                added[target] = extra
        return self._finished(found, added, why)

    def _finished(self, found: dict, added: dict, why: dict) -> dict[str, list[ResultRow]]:
        """The targets every case of which, and their end, stand; the others' cases to ``partial``."""
        done = {}
        for target, by_case in found.items():
            if target in added and len(by_case) == len(self._cases):
                done[target] = [r for index in range(len(self._cases)) for r in by_case[index]] + added[target]
                why.pop(target, None)
            else:
                self.partial[target] = by_case
                if target in why:
                    why[target] += f" ({len(self._cases) - len(by_case)} of its {len(self._cases)} cases run again)"
        self.rejected = [f"{clean_text(target, 300)} runs again: {reason}" for target, reason in why.items()]
        return done

    def _checked(self, entry: dict) -> tuple[dict[int, list[ResultRow]], list[ResultRow] | None]:
        """The entry's rows by case, and the rows added at the target's end (None in a line of
        cases), if the entry may stand in this run (``Rejected`` says why not)."""
        if (set(entry) != _KEYS or not all(isinstance(entry[k], str) for k in _TEXT_KEYS)
                or not isinstance(entry["done"], bool)):
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
        rows = _rows(entry["rows"], entry["target"], self._cases)
        if entry["done"]:
            if entry["cases"] != [] or entry["skipped"] != [] or any(r.check != "coverage" for r in rows):
                raise Rejected("its journal line is not one this suite writes")
            return {}, rows
        return _by_case(entry, rows, self._cases), None


def _plain(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def _positions(raw: object, count: int) -> list[int]:
    if not (isinstance(raw, list) and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count
                                          for i in raw) and len(set(raw)) == len(raw)):
        raise Rejected("its journal line names cases this run does not have")
    return raw


def _by_case(entry: dict, rows: list[ResultRow], cases: list) -> dict[int, list[ResultRow]]:
    """A line of cases: each case it names with its rows (the skipped ones rebuilt from their reason)."""
    named = _positions(entry["cases"], len(cases))
    by_case: dict[int, list[ResultRow]] = {index: [] for index in named}
    if not isinstance(entry["skipped"], list):
        raise Rejected("its journal line is not one this suite writes")
    skipped: set[int] = set()
    for item in entry["skipped"]:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and len(item[0]) <= MAX_TEXT):
            raise Rejected("its journal line has an unusable reason a case did not apply")
        for index in _positions(item[1], len(cases)):
            if index not in by_case or index in skipped:
                raise Rejected("its journal line names cases this run does not have")
            skipped.add(index)
            by_case[index].append(row(entry["target"], cases[index], "case", "*", "not_applicable", item[0]))
    where = _where(cases, [i for i in named if i not in skipped])
    for result in rows:
        index = where.get((result.case, result.seed))
        if index is None or result.check == "coverage":
            raise Rejected(f"its journal line has a row of a case it does not name ({clean_text(result.case, 80)})")
        by_case[index].append(result)
    if missing := [index for index, found in by_case.items() if not found]:
        raise Rejected(f"its journal line lacks {len(missing)} of the cases it names")
    return by_case


def _where(cases: list, positions) -> dict[tuple[str, int], int]:
    """The first of ``positions`` of each case, by its id and seed."""
    out: dict[tuple[str, int], int] = {}
    for index in positions:
        out.setdefault((cases[index].id, cases[index].seed), index)
    return out


def _rows(raw: object, target: str, cases: list) -> list[ResultRow]:
    """Journaled rows checked as a worker's reply is: shape, types, values the suite can give,
    the run's own cases with their own fields."""
    if not isinstance(raw, list):
        raise Rejected("its journal line is not one this suite writes")
    where = _where(cases, range(len(cases)))
    out = []
    for values in raw:
        result = _row(values, target)
        index = where.get((result.case, result.seed))
        if index is None or any(getattr(result, k) != v for k, v in case_fields(target, cases[index]).items()):
            raise Rejected(f"its journal line has a row of a case this run does not have "
                           f"({clean_text(result.case, 80)})")
        out.append(result)
    return out
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


def _row(values: object, target: str) -> ResultRow:
    if not (isinstance(values, list) and len(values) == len(COLUMNS)):
        raise Rejected("its journal line has a row of the wrong length")
    result = ResultRow(**{name: _value(name, value) for name, value in zip(COLUMNS, values)})
    if result.implementation != target:
        raise Rejected("its journal line has rows of another target")
    if result.verdict not in VERDICTS or result.check not in CHECKS:
        raise Rejected("its journal line has a verdict or check the suite does not give")
    return result
