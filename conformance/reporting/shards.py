"""A run split over machines (``--shard I/N``) and its shards' reports merged into one.

``Shard`` deals the named targets round-robin: shard I of N takes the targets at
positions I-1, I-1+N, … of the order they were named, so N jobs of a CI matrix, a SLURM
job array or a Kubernetes indexed Job (each with its own ``--out``) cover every target
once, each on the whole grid. ``merge`` reads the N report folders back (``read_back``:
every byte checked, nothing evaluated), checks that they are the N shards of one run,
and makes the report an unsharded run writes: the same rows, the same verdicts, the
targets in the order they were named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TypeVar

import pandas as pd

from conformance.judge.skipped import NotApplicable
from conformance.reporting.read_back import ShardError, ShardFolder, read_folder
from conformance.reporting.split import Shard

__all__ = ["Merged", "Shard", "ShardError", "merge"]

T = TypeVar("T")
#: What must be the same in every shard's environment for them to be shards of one run.
SAME = ("grid", "seed", "cases", "required", "isolated")


@dataclass(frozen=True)
class Merged:
    """The shards' reports as one: the report's tables, the grade sheet (``targets.csv``,
    when the shards wrote one) and the feedback files (name → text)."""

    results: pd.DataFrame
    not_applicable: NotApplicable
    timings: pd.DataFrame
    fd_accuracy: pd.DataFrame | None
    environment: dict
    sheet: pd.DataFrame | None
    feedback: dict[str, str]


def _interleaved(parts: list[list[T]]) -> list[T]:
    """Items dealt round-robin put back in the order they were dealt from."""
    out = []
    for position in range(max(map(len, parts), default=0)):
        out += [part[position] for part in parts if position < len(part)]
    return out


def _ordered(shards: list[ShardFolder]) -> list[ShardFolder]:
    """The shards by index, once each, all of one run: ``ShardError`` otherwise."""
    counts = {folder.shard.count for folder in shards}
    if len(counts) != 1:
        raise ShardError(f"these folders are shards of different splits ({', '.join(map(str, sorted(counts)))} shards)")
    count = counts.pop()
    by_index = {}
    for folder in shards:
        if folder.shard.index in by_index:
            raise ShardError(f"{by_index[folder.shard.index].path} and {folder.path} are both shard {folder.shard}")
        by_index[folder.shard.index] = folder
    if missing := [str(i) for i in range(1, count + 1) if i not in by_index]:
        raise ShardError(f"shard {', '.join(missing)} of {count} is missing: merge needs every shard's folder")
    if len({folder.fingerprint for folder in shards}) > 1:
        raise ShardError("the shards were not run alike: other cases, seed, options or limits")
    for key in SAME:
        values = {str(folder.environment.get(key)) for folder in shards}
        if len(values) > 1:
            raise ShardError(f"the shards were not run alike: their {key} differs ({' vs '.join(sorted(values))})")
    return [by_index[i] for i in range(1, count + 1)]


def merge(folders: Sequence[Path]) -> Merged:
    """The report of the run the shards in ``folders`` are the parts of (``ShardError``, one
    line, when they are not all the shards of one run or a file is not one this suite wrote)."""
    shards = _ordered([read_folder(Path(folder)) for folder in folders])
    names = _interleaved([folder.implementations for folder in shards])
    if len(set(names)) != len(names):
        raise ShardError("an implementation appears in two shards: these are not shards of one run")
    position = {name: i for i, name in enumerate(names)}
    results = pd.concat([folder.results for folder in shards], ignore_index=True)
    results = results.iloc[results["implementation"].map(position).argsort(kind="stable")].reset_index(drop=True)
    entries = sorted((e for folder in shards for e in folder.not_applicable.entries),
                     key=lambda e: position[e.implementation])
    timings = pd.concat([folder.timings for folder in shards], ignore_index=True)
    sheets = [folder.sheet for folder in shards]
    sheet = None
    if all(s is not None for s in sheets):
        sheet = pd.concat(_interleaved([[s.iloc[[i]] for i in range(len(s))] for s in sheets]) or sheets,
                          ignore_index=True)
    environment = {k: v for k, v in shards[0].environment.items() if k not in ("shard", "interrupted")}
    environment |= {"implementations": ", ".join(names), "merged_from": f"{len(shards)} shards",
                    "seconds_checking": round(sum(float(f.environment.get("seconds_checking", 0)) for f in shards), 2)}
    feedback: dict[str, str] = {}
    for folder in shards:
        feedback |= folder.feedback
    return Merged(results, NotApplicable(tuple(entries), tuple(names)), timings, shards[0].fd_accuracy, environment,
                  sheet, feedback)
