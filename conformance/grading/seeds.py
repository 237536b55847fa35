"""The seed a class is graded with: drawn at random unless given, so that no student can
know the cases' data beforehand, and recorded so that the run can be reproduced.

The grid's networks are public (the README lists them); their parameters, inputs,
upstream gradients and targets are drawn from the seed. A submission that answers
from a table built for a known seed passes only under that seed. ``grade`` draws
one per run, says it in its output, the report (``environment.json``,
``summary.md``) and every feedback file, and writes it to ``OUT/seed.txt`` at the
start, so that ``--resume`` continues a killed run with the same cases;
``--seed S`` reproduces a run. ``check`` keeps seed 0 (engineers compare runs).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

FILE = "seed.txt"
#: Seeds are drawn below this (any non-negative integer is a valid ``--seed``).
LIMIT = 1 << 31


@dataclass(frozen=True)
class Seed:
    """The seed a grading run uses, and where it came from (``given``, ``drawn``, ``resumed``)."""

    value: int
    origin: str

    def line(self) -> str:
        """One line for the output: the seed and how to reproduce the run."""
        how = {"given": "given with --seed", "drawn": "drawn at random",
               "resumed": "the seed of the run resumed"}[self.origin]
        return f"seed: {self.value} ({how}; --seed {self.value} reproduces these cases)"


def recorded(folder: Path) -> int | None:
    """The seed a run in ``folder`` recorded, or None (none recorded, or not a seed)."""
    try:
        text = (folder / FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and len(text) < 20 else None


def choose(given: int | None, folder: Path, resume: bool) -> Seed:
    """The seed to grade with: the one given, else the resumed run's, else a fresh random one."""
    if given is not None:
        return Seed(given, "given")
    if resume and (found := recorded(folder)) is not None:
        return Seed(found, "resumed")
    return Seed(secrets.randbelow(LIMIT), "drawn")


def record(folder: Path, seed: Seed) -> None:
    """Write the seed where ``--resume`` finds it (before any student is graded)."""
    from conformance.reporting.files import write_atomically

    write_atomically(folder / FILE, f"{seed.value}\n")
