"""Reads what only root may read (the shadow file, an instructor's key next to the
submissions and one folder up) and lists home folders and /run; shows what it got in its name."""
import os
from pathlib import Path

from _honest import Correct

HERE = Path(__file__).resolve().parent


def _read(path):
    try:
        with open(path, "rb") as file:
            return bool(file.read(1))
    except OSError:
        return False


def _listed(path):
    try:
        return bool(os.listdir(path))
    except OSError:
        return False


GOT = [label for label, ok in [
    ("shadow", _read("/etc/shadow")),
    ("key-here", _read(HERE / "solution_key.txt")),
    ("key-above", _read(HERE.parent / "solution_key.txt")),
    ("home", _listed("/home")),
    ("run", _listed("/run")),
    ("root-ssh", _listed("/root/.ssh")),
] if ok]


class ReadsRootOnly(Correct):
    name = "read=" + ("+".join(GOT) or "nothing")
