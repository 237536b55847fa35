"""What a folder of submissions holds besides its submissions, and names that are one file.

Read by the grading process from the file system only (nothing is run):

* ``outside`` refuses an entry of a folder of submissions that is a symbolic
  link to something outside that folder (a classmate's file elsewhere, the
  instructor's solution, a file only the grader may read): the link is listed
  as not loaded, and never followed.
* ``flag_same_files`` marks targets that are one file under two paths (a link
  named to sort first, a hard link, a folder and its link): each is kept,
  graded from its own copy, and carries a flag naming the others, so that no
  student's row is silently merged into another's.
* ``ignored`` lists, once, what a folder of submissions holds that is no one's
  submission: such files are copied for no one, so they reach no worker.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from conformance.running.copies import neighbours, reserved_because
from conformance.running.wire import clean_text

def outside(path: Path, folder: Path) -> str:
    """Why an entry of ``folder`` is not followed ('' when it is fine): a link out of it."""
    if not path.is_symlink():
        return ""
    real, home = path.resolve(), folder.resolve()
    if real.is_relative_to(home):
        return ""
    return (f"{clean_text(path, 300)} is a symbolic link to something outside {clean_text(folder, 300)}/ "
            f"(not followed)")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def same_files(paths: Sequence[Path], names: Sequence[str]) -> dict[int, str]:
    """For each position whose path is one file with another's, the flag it carries (in the
    targets' ``names``)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for number, path in enumerate(paths):
        if (key := _identity(path)) is not None:
            groups.setdefault(key, []).append(number)
    flags = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        for number in members:
            others = ", ".join(names[m] for m in members if m != number)
            how = "a symbolic link to the same file as" if paths[number].is_symlink() else "the same file as"
            flags[number] = f"{names[number]} is {how} {others}: each is graded"
    return flags


def ignored_entries(folder: Path, chosen: Iterable[Path], copied: Iterable[Path] = ()) -> list[str]:
    """Every entry of ``folder`` that is neither a submission nor copied with one, with why."""
    taken = {os.path.abspath(p) for p in chosen} | {os.path.abspath(p) for p in copied}
    listed = []
    for entry in sorted(folder.iterdir()):
        if os.path.abspath(entry) in taken or entry.name == "__pycache__":
            continue
        why = reserved_because(entry.stem) if entry.suffix == ".py" else ""
        listed.append(f"{clean_text(entry, 200)}" + (f" ({why})" if why else ""))
    return listed


def helpers_of(files: Iterable[Path]) -> set[Path]:
    """The neighbouring modules the ``.py`` submissions of a folder take along in their copies."""
    found: set[Path] = set()
    for file in files:
        if file.suffix == ".py" and file.is_file():
            home = file.parent
            found |= {home / helper.name for helper in neighbours(file.resolve())}
    return found


def ignored_line(entries: list[str]) -> str:
    """One line for the run's output: every entry ignored (each is someone's file: all are named)."""
    return f"ignored, not submissions (no worker sees them): {', '.join(entries)}"
