"""A run's share of the named targets (``--shard I/N``): shard I of N takes the targets at
positions I-1, I-1+N, … of the order they were named (``reporting.shards`` merges them)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Sequence, TypeVar

T = TypeVar("T")
_PATTERN = re.compile(r"^(\d{1,6})/(\d{1,6})$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` with 1 ≤ I ≤ N (``argparse.ArgumentTypeError`` otherwise, one line)."""
        match = _PATTERN.match(text.strip())
        if not match:
            raise argparse.ArgumentTypeError(f"--shard takes I/N (shard I of N, e.g. 1/4), got {text!r}")
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count:
            raise argparse.ArgumentTypeError(f"--shard I/N needs 1 <= I <= N, got {text!r}")
        return cls(index, count)

    def take(self, items: Sequence[T]) -> list[T]:
        """This shard's share of ``items``: every N-th, from the I-th."""
        return list(items[self.index - 1::self.count])

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
