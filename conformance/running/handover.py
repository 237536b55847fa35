"""Handing a worker the files it must read when it runs as the sandbox user.

A grader running as root drops its workers to an unprivileged uid (see
``sandbox``), so a submission's folder that only root may open (a folder made by
``mkdtemp``, a home folder's files) would be out of the worker's reach. Such a
folder (or file) is copied, without the paths the worker may not see, into a
fresh folder that only root and the sandbox group can enter, and the sandbox
shows the copy at the original's path: the worker finds its files where the
grader named them, and nothing of the original changes. Only the folder itself
is opened this way: a file or folder within it that the sandbox user could not
read is left out of the copy, so what only root may read stays unreadable.
What the sandbox user can already read is shown as it is, uncopied.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Copy:
    """``original`` as the worker sees it, and the folder or file shown in its place."""

    original: str
    shown: str


def readable_by(path: str, uid: int, gid: int) -> bool:
    """Whether ``uid``/``gid`` (no other groups) may read ``path`` (and enter it, for a folder)."""
    try:
        info = os.stat(path)
    except OSError:
        return True  # nothing to hand over: the worker says what is missing
    need = 0o5 if stat.S_ISDIR(info.st_mode) else 0o4
    shift = 6 if info.st_uid == uid else 3 if info.st_gid == gid else 0
    return (info.st_mode >> shift) & need == need


def _copied(path: str, uid: int, gid: int) -> bool:
    """Whether the copy holds ``path``: a link, or a file or folder the user could read
    (a socket, a pipe or a device is never copied)."""
    if os.path.islink(path):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and readable_by(path, uid, gid)


def _skipped(hidden: tuple[str, ...], uid: int, gid: int):
    """What the copy leaves out: hidden paths, and what the sandbox user could not read."""
    hidden_paths = {os.path.abspath(p) for p in hidden}

    def ignore(folder: str, names: list[str]) -> list[str]:
        paths = {n: os.path.join(os.path.abspath(folder), n) for n in names}
        return [n for n, p in paths.items() if p in hidden_paths or not _copied(p, uid, gid)]

    return ignore


def hand_over(path: str, hidden: tuple[str, ...], uid: int, gid: int) -> Copy | None:
    """A copy of ``path`` the sandbox user can read, or None when it can read ``path`` itself."""
    if readable_by(path, uid, gid):
        return None
    home = Path(tempfile.mkdtemp(prefix="conformance-handover-"))
    os.chown(home, 0, gid)
    home.chmod(0o750)  # root and the sandbox group only
    shown = home / Path(path).name
    if os.path.isdir(path):
        shutil.copytree(path, shown, symlinks=True, ignore=_skipped(hidden, uid, gid))
    else:
        shutil.copy2(path, shown)
    for folder, folders, files in os.walk(shown):
        os.chmod(folder, 0o755)
        for name in files:
            file = os.path.join(folder, name)
            if not os.path.islink(file):
                os.chmod(file, 0o644)
    return Copy(os.path.abspath(path), str(shown))


def release(copies: tuple[Copy, ...]) -> None:
    """Remove the copies (each in a folder of its own)."""
    for copy in copies:
        shutil.rmtree(Path(copy.shown).parent, ignore_errors=True)
