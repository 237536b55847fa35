"""What ``run``, ``check`` and ``grade`` show while they work: a bar on a terminal, a line
per implementation elsewhere (under CI, or when stderr is a file)."""

from __future__ import annotations

import os
import time
from typing import Callable, TextIO

#: Seconds between two lines saying how far a run is, off a terminal (a log's only sign of life
#: while the cases of many implementations finish together).
EVERY_S = 10.0


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class LineProgress:
    """Progress as lines (not on a terminal, or under CI): one per implementation, and every
    ``EVERY_S`` seconds while cases finish, how many of the implementation × case runs are done."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic):
        self.stream, self.clock = stream, clock
        self.runs = self.done = 0
        self.started = self.said = 0.0

    def start(self, targets, cases: int) -> None:
        print(f"running {len(targets)} implementation{'s' * (len(targets) > 1)} on {cases} cases",
              file=self.stream, flush=True)
        self.runs, self.done = len(targets) * cases, 0
        self.started = self.said = self.clock()

    def case_done(self, target, case, rows) -> None:
        self.done += 1
        now = self.clock()
        if now - self.said >= EVERY_S and self.done < self.runs:
            self.said = now
            print(f"{self.done} of {self.runs} case runs done ({now - self.started:.0f} s)",
                  file=self.stream, flush=True)

    def target_done(self, target, rows, seconds: float) -> None:
        from conformance.reporting.verdicts import TargetResult
        from conformance.reporting.verdicts import LABELS

        cases = len({r.case for r in rows})
        verdict = TargetResult(target.name, target.name, tuple(rows), cases=cases).verdict
        print(f"{target.name}: {LABELS[verdict]} — {cases} cases in {seconds:.1f} s", file=self.stream, flush=True)

    def timing_phase(self, targets, budget_s: float) -> None:
        print(announcement(targets, budget_s), file=self.stream, flush=True)

    def timing_started(self, target, cases: int) -> None:
        print(f"{target.name}: timing up to {cases} cases next to PyTorch", file=self.stream, flush=True)

    def timed(self, target, case) -> None:
        pass

    def timing_done(self, target, timed: int, cases: int, seconds: float, left_out: int = 0) -> None:
        why = [f"{left_out} left out for the budget"] * (left_out > 0)
        if other := cases - timed - left_out:
            why.append(f"{other} not timed: not supported or an error, see timings.csv")
        said = f" ({'; '.join(why)})" if why else ""
        print(f"{target.name}: timed {timed} of {cases} cases in {seconds:.1f} s{said}", file=self.stream, flush=True)

    def finish(self) -> None:
        pass


class BarProgress:
    """A progress bar on a terminal: cases run, then cases timed."""

    def __init__(self, stream: TextIO):
        self.stream, self.bar = stream, None

    def _bar(self, total: int, what: str):
        from tqdm import tqdm

        if self.bar is not None:
            self.bar.close()
        self.bar = tqdm(total=total, desc=what, unit="case", file=self.stream, dynamic_ncols=True, leave=False)

    def start(self, targets, cases: int) -> None:
        self.cases, self.done = cases, 0
        self._bar(len(targets) * cases, "checking")

    def case_done(self, target, case, rows) -> None:
        self.bar.set_postfix_str(target.name, refresh=False)
        self.bar.update(1)
        self.done += 1

    def target_done(self, target, rows, seconds: float) -> None:
        self.bar.update(self.cases - self.done)  # all at once when processes ran the cases
        self.done = 0

    def timing_phase(self, targets, budget_s: float) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        print(announcement(targets, budget_s), file=self.stream, flush=True)

    def timing_started(self, target, cases: int) -> None:
        self._bar(cases, f"timing {target.name}")

    def timed(self, target, case) -> None:
        self.bar.update(1)

    def timing_done(self, target, timed: int, cases: int, seconds: float, left_out: int = 0) -> None:
        pass

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def announcement(targets, budget_s: float) -> str:
    """The line that says the timing phase starts, how long it may take, and how to change that."""
    n = len(targets)
    return (f"timing {n} implementation{'s' * (n > 1)} next to PyTorch, for up to {budget_s:g} s in all "
            f"(--timing-budget S to change, --no-timing to skip)")


def progress_for(stream: TextIO):
    return BarProgress(stream) if stream.isatty() and not under_ci() else LineProgress(stream)

