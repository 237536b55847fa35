"""Per-worker control groups: a cap on a worker's processes, and on all the memory it holds.

A worker's address-space limit (``RLIMIT_AS``) does not count what it writes to
``/dev/shm``, to memfds or to System V shared memory when those are no longer
mapped; a memory cgroup counts every page the worker's processes are charged
for, so ``memory`` is capped at the address-space limit plus its private
``/tmp`` and ``/dev/shm``. A pids cgroup caps its processes and threads where a
user namespace does not make ``RLIMIT_NPROC`` the worker's own.

Only a real controller counts: a group is made under the grader's own group of a
mounted ``cgroup`` (v1, the controller named in its options) or ``cgroup2``
hierarchy (the controller listed in the new group's ``cgroup.controllers``), and a
folder in which the kernel created no ``cgroup.procs`` (a plain folder on a tmpfs
``/sys/fs/cgroup``) is removed again and never taken for a limit. ``available()``
says which controllers this machine gives, for the run's sandbox line. A grader
killed outside (SIGKILL) cannot remove its workers' groups: the next grader does,
once they are empty and their grader's process is gone (``sweep``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("pids", "memory")
#: How long ``remove`` waits for the processes of a killed worker to leave its groups.
EMPTY_WAIT_S = 5.0


@dataclass(frozen=True)
class Hierarchy:
    """Where a controller's groups are made: the grader's own group in a mounted hierarchy."""

    controller: str
    own: Path
    version: int

    def limit_files(self, memory_bytes: int, processes: int) -> dict[str, str]:
        if self.controller == "pids":
            return {"pids.max": str(processes)}
        if self.version == 1:
            return {"memory.limit_in_bytes": str(memory_bytes), "memory.memsw.limit_in_bytes": str(memory_bytes)}
        return {"memory.max": str(memory_bytes), "memory.swap.max": "0"}


def _own_groups() -> dict[str, str]:
    """The grader's own group path per v1 controller, and ``""`` for the v2 hierarchy."""
    groups = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            for name in names.split(",") if names else [""]:
                groups[name] = path
    return groups


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, filesystem type, super options) of every cgroup mount of this process."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fstype, _, options = (right.split(" ") + ["", "", ""])[:3]
            if fstype in ("cgroup", "cgroup2"):
                found.append((left.split(" ")[4].replace("\\040", " "), fstype, set(options.split(","))))
    return found


@functools.lru_cache(maxsize=1)
def hierarchies() -> dict[str, Hierarchy]:
    """The hierarchy each controller can be used in here (v1 first, where both are mounted)."""
    own, found = _own_groups(), {}
    for point, fstype, options in _mounts():
        if fstype == "cgroup":
            for controller in CONTROLLERS:
                if controller in options and controller in own and controller not in found:
                    found[controller] = Hierarchy(controller, Path(point + own[controller]), 1)
        elif "" in own:
            base = Path(point + own[""])
            with contextlib.suppress(OSError):
                offered = (base / "cgroup.subtree_control").read_text().split()
                for controller in CONTROLLERS:
                    if controller in offered and controller not in found:
                        found[controller] = Hierarchy(controller, base, 2)
    return found


def _make(hierarchy: Hierarchy, name: str, files: dict[str, str]) -> Path | None:
    """A new group with its limits written, or None where that cannot be (nothing left behind)."""
    path = hierarchy.own / name
    try:
        path.mkdir()
    except OSError:
        return None
    try:
        if not (path / "cgroup.procs").exists():
            raise OSError("not a cgroup")  # a plain folder: the kernel makes cgroup.procs in a real group
        first, *optional = files.items()
        (path / first[0]).write_text(first[1])
        for file, value in optional:
            with contextlib.suppress(OSError):
                (path / file).write_text(value)
    except OSError:
        with contextlib.suppress(OSError):
            path.rmdir()
        return None
    return path


@functools.lru_cache(maxsize=1)
def available() -> tuple[str, ...]:
    """The controllers a worker's group can be made with here (made and removed once to know)."""
    probe = WorkerGroups(1 << 30, 64, tag="probe")
    try:
        return tuple(controller for controller in CONTROLLERS if controller in probe.paths)
    finally:
        probe.remove()


#: A group older than this, empty, whose grader is gone, was left by a grader that was killed.
STALE_AFTER_S = 60.0


def _stale(path: Path) -> bool:
    pid = path.name.split("-")[2] if path.name.count("-") >= 3 else ""
    try:
        return (pid.isdigit() and not os.path.exists(f"/proc/{pid}")
                and time.time() - path.stat().st_mtime > STALE_AFTER_S
                and not (path / "cgroup.procs").read_text().split())
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def sweep() -> int:
    """Remove the groups graders killed before they could (once per process); how many."""
    removed = 0
    for hierarchy in hierarchies().values():
        for path in hierarchy.own.glob("conformance-worker-*"):
            if _stale(path):
                with contextlib.suppress(OSError):
                    path.rmdir()
                    removed += 1
    return removed


class WorkerGroups:
    """One worker's groups: its command ``wrap``-ped to start in them, ``remove`` once it is gone."""

    def __init__(self, memory_bytes: int, processes: int, tag: str = "worker"):
        sweep()
        name = f"conformance-{tag}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.paths: dict[str, Path] = {}
        for controller, hierarchy in hierarchies().items():
            made = _make(hierarchy, name, hierarchy.limit_files(memory_bytes, processes))
            if made is not None:
                self.paths[controller] = made

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` started inside every group: a shell moves itself in, then becomes the
        command, so that everything it starts is counted from its first fork. (Not a Python
        ``preexec_fn``: Python code between fork and exec can take a pending Ctrl-C there.)"""
        if not self.paths:
            return command
        procs = [str(path / "cgroup.procs") for path in self.paths.values()]
        script = 'while [ "$1" != -- ]; do echo $$ 2>/dev/null > "$1"; shift; done; shift; exec "$@"'
        return ["/bin/sh", "-c", script, "sh", *procs, "--", *command]

    def remove(self) -> None:
        """Kill what is left in the groups, wait for them to empty, remove them."""
        deadline = time.monotonic() + EMPTY_WAIT_S
        for path in self.paths.values():
            while True:
                with contextlib.suppress(OSError):
                    pids = (path / "cgroup.procs").read_text().split()
                    for pid in pids:
                        with contextlib.suppress(OSError):
                            os.kill(int(pid), 9)
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break  # still busy: left, rather than block the run
                    time.sleep(0.01)
        self.paths = {}
