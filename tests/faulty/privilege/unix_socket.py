"""Connects to every Unix socket it can find (and to the grader's, beside it and one folder up);
shows in its name how many answered."""
import os
import socket
import stat
from pathlib import Path

from _honest import Correct

SKIP = ("/proc", "/sys", "/usr", "/dev")


def _sockets():
    here = Path(__file__).resolve().parent
    yield from (str(here / "grader.sock"), str(here.parent / "grader.sock"))
    for folder, folders, files in os.walk("/"):
        folders[:] = [f for f in folders if os.path.join(folder, f) not in SKIP]
        for name in files:
            path = os.path.join(folder, name)
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    yield path
            except OSError:
                continue


def _answered(path):
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(1)
            client.connect(path)
            return True
    except OSError:
        return False


REACHED = sum(_answered(p) for p in _sockets())


class UnixSocket(Correct):
    name = f"sockets={REACHED}"
