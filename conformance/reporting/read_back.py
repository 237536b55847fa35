"""A shard's report folder read back for ``merge``: every file checked as a reply is.

A shard's folder is data on a disk that anyone may have changed since it was written, so
nothing in it is trusted: each table must have this suite's columns, each value the type
and range its column takes (verdicts and checks the suite gives, numbers that are
numbers, text of bounded length), every row an implementation the shard says it ran, and
each list of cases that did not apply the digest it is filed under. Read as CSV, JSON and
text, never evaluated; anything else is a ``ShardError`` whose message is one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from conformance.judge.results import CHECKS, COLUMNS, TEXT_COLUMNS, VERDICTS
from conformance.judge.skipped import NotApplicable, Skipped
from conformance.reporting.environment import GENERATOR
from conformance.reporting.escape import FEEDBACK_NAME
from conformance.reporting.not_applicable import CASE_LISTS, LIST_COLUMNS, SUMMARY, SUMMARY_COLUMNS, list_digest
from conformance.reporting.split import Shard
from conformance.reporting.tables import TIMING_COLUMNS


#: The file a sharded run writes first: which shard, of which run, and its targets in order.
SHARD_FILE = "shard.json"
#: The most characters a text cell may hold, and the most bytes a feedback file.
MAX_TEXT, MAX_FEEDBACK = 20000, 1_000_000
_FLOATS = ("max_abs_error", "max_rel_error")
_INTS = ("batch", "seed")
_BOOLS = ("bias", "fitted")


class ShardError(Exception):
    """A folder that is not a shard of the run being merged; the message is one line."""


@dataclass(frozen=True)
class ShardFolder:
    """One shard's report, checked."""

    path: Path
    shard: Shard
    fingerprint: str
    implementations: list[str]
    environment: dict
    results: pd.DataFrame
    not_applicable: NotApplicable
    timings: pd.DataFrame
    fd_accuracy: pd.DataFrame | None
    sheet: pd.DataFrame | None
    feedback: dict[str, str]


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ShardError(f"{path} cannot be read as JSON ({type(error).__name__})") from None
    if not (isinstance(value, dict) and value.get("generator") == GENERATOR):
        raise ShardError(f"{path} was not written by this suite")
    return value


def _table(path: Path, columns: tuple[str, ...] | None, typed: bool = False) -> pd.DataFrame:
    """A CSV file as text cells (``typed``: numbers as numbers, for a table only shown), its
    header checked (``columns``: exactly these)."""
    try:
        table = pd.read_csv(path) if typed else pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ShardError(f"{path} cannot be read as a table ({type(error).__name__})") from None
    if columns is not None and tuple(table.columns) != columns:
        raise ShardError(f"{path} does not have this suite's columns")
    if len(table) and table.astype(str).map(len).to_numpy().max() > MAX_TEXT:
        raise ShardError(f"{path} has a cell longer than {MAX_TEXT} characters")
    return table


def _numbers(table: pd.DataFrame, columns, path: Path, kind) -> None:
    for column in columns:
        try:
            table[column] = table[column].map(lambda text: float("nan") if text == "" else kind(text))
        except ValueError:
            raise ShardError(f"{path} has a value in {column} that is not a number") from None


def _results(path: Path, implementations: set[str]) -> pd.DataFrame:
    table = _table(path, COLUMNS)
    if not table["verdict"].isin(VERDICTS).all() or not table["check"].isin(CHECKS).all():
        raise ShardError(f"{path} has a verdict or check the suite does not give")
    if not table["implementation"].isin(implementations).all():
        raise ShardError(f"{path} has rows of an implementation its shard did not run")
    for column in _BOOLS:
        if not table[column].isin(("True", "False")).all():
            raise ShardError(f"{path} has a value in {column} that is not True or False")
        table[column] = table[column] == "True"
    if (table[list(_INTS)] == "").any().any():
        raise ShardError(f"{path} has an empty batch or seed")
    _numbers(table, _INTS, path, int)
    _numbers(table, _FLOATS, path, float)
    return table.astype({c: object for c in TEXT_COLUMNS})


def _not_applicable(folder: Path, implementations: list[str]) -> NotApplicable:
    summary, lists = _table(folder / SUMMARY, SUMMARY_COLUMNS), _table(folder / CASE_LISTS, LIST_COLUMNS)
    members: dict[str, list[str]] = {}
    for digest, case in zip(lists["case_list"], lists["case"]):
        members.setdefault(digest, []).append(case)
    entries = []
    for name, reason, count, digest in summary.itertuples(index=False):
        cases = tuple(members.get(digest, ()))
        if name not in implementations or not count.isdigit() or int(count) != len(cases) \
                or list_digest(cases) != digest:
            raise ShardError(f"{folder / SUMMARY} does not match {CASE_LISTS} (or names an implementation "
                             "its shard did not run)")
        entries.append(Skipped(name, reason, cases))
    return NotApplicable(tuple(entries), tuple(implementations))


def _feedback(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not (folder / "feedback").is_dir():
        return out
    for path in sorted((folder / "feedback").iterdir()):
        if not (FEEDBACK_NAME.match(path.name) and path.is_file() and not path.is_symlink()
                and path.stat().st_size <= MAX_FEEDBACK):
            raise ShardError(f"{path} is not a feedback file this suite writes")
        try:
            out[path.name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise ShardError(f"{path} cannot be read as text") from None
    return out


def _shard_file(folder: Path) -> tuple[Shard, str, list[str]]:
    described = _json(folder / SHARD_FILE)
    targets, fingerprint = described.get("targets"), described.get("fingerprint")
    try:
        shard = Shard.parse(str(described.get("shard")))
    except ValueError:
        shard = None
    if shard is None or not isinstance(fingerprint, str) or not (
            isinstance(targets, list) and all(isinstance(t, str) and len(t) <= MAX_TEXT for t in targets)):
        raise ShardError(f"{folder / SHARD_FILE} is not a shard's description this suite writes")
    return shard, fingerprint, targets


def _scores_are_numbers(sheet: pd.DataFrame) -> bool:
    """A grading's sheet: every score and max score a finite number, 0 ≤ score ≤ max score
    (a sheet without scores, a check's, has nothing to check)."""
    if not {"score", "max score"} & set(sheet.columns):
        return True
    if not {"score", "max score"} <= set(sheet.columns):
        return False
    score = pd.to_numeric(sheet["score"], errors="coerce")
    most = pd.to_numeric(sheet["max score"], errors="coerce")
    return bool((score.notna() & most.notna() & (score >= 0) & (score <= most) & (most < float("inf"))).all())


def read_folder(folder: Path) -> ShardFolder:
    """The shard report in ``folder``, every file checked (``ShardError`` says what is wrong)."""
    if not (folder / SHARD_FILE).is_file():
        raise ShardError(f"{folder} holds no {SHARD_FILE}: it is not the report folder of a run with --shard")
    shard, fingerprint, targets = _shard_file(folder)
    environment = _json(folder / "environment.json")
    if environment.get("interrupted"):
        raise ShardError(f"{folder} holds an interrupted run's report: run it again (--resume) before merging")
    results = _results(folder / "results.csv", set(targets))
    timings = _table(folder / "timings.csv", TIMING_COLUMNS, typed=True)
    fd_accuracy = _table(folder / "fd_accuracy.csv", None, typed=True) if (folder / "fd_accuracy.csv").is_file() \
        else None
    sheet = _table(folder / "targets.csv", None) if (folder / "targets.csv").is_file() else None
    if sheet is not None and (tuple(sheet.columns[:1]) != ("target",) or list(sheet["target"]) != targets):
        raise ShardError(f"{folder / 'targets.csv'} does not list the shard's targets")
    if sheet is not None and not _scores_are_numbers(sheet):
        raise ShardError(f"{folder / 'targets.csv'} holds a score that is not a number from 0 to its max score")
    return ShardFolder(folder, shard, fingerprint, targets, environment, results, _not_applicable(folder, targets),
                       timings, fd_accuracy, sheet, _feedback(folder))
