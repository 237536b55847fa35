"""The sandbox a worker runs in: bubblewrap where it works, else a plain process with limits.

Under bubblewrap (``bwrap``) the worker sees the filesystem read-only, with
the other submissions of the run and the report folder hidden, its own
submission's folder readable, and a private ``/tmp`` of bounded size as the
only place it can write; it has its own pid, network, IPC and user
namespaces (no network at all), runs as an unprivileged user in a new
session, and dies with the grader. When the worker ends, its pid namespace
ends, and with it every process the submission started.

Where bubblewrap is missing or cannot create namespaces (macOS, some
containers) the worker is an ordinary process in its own process group,
killed as a group; ``describe()`` says which one a run used, once, in the
output and in ``environment.json``. ``CONFORMANCE_SANDBOX=none`` asks for the
plain process even where bubblewrap works.

In both, the worker applies resource limits to itself before it loads any
submission code (see ``worker``): address space, CPU time, file size,
processes, no core dumps. Processes are also capped by a pids cgroup where the
grader may create one (as root, where ``RLIMIT_NPROC`` does not bind).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SANDBOX_USER = 65534  # nobody
HARNESS = Path(__file__).resolve().parent.parent
PIDS_CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


@dataclass(frozen=True)
class View:
    """What a worker may see: ``readable`` folders (its submission's), ``hidden`` paths
    (other submissions, the report folder), the size of its private ``/tmp``."""

    readable: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    tmp_mb: int = 64
    workdir: str = "/tmp"


@functools.lru_cache(maxsize=1)
def bubblewrap() -> tuple[str | None, str]:
    """(path of bwrap, its version) where it can build a sandbox here, else (None, why not)."""
    if os.environ.get("CONFORMANCE_SANDBOX", "").strip().lower() == "none":
        return None, "turned off by CONFORMANCE_SANDBOX=none"
    path = shutil.which("bwrap")
    if path is None:
        return None, "bubblewrap (bwrap) is not installed"
    try:
        probe = subprocess.run([path, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                "true"], capture_output=True, timeout=20)
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"bubblewrap could not run ({type(error).__name__})"
    if probe.returncode != 0:
        why = probe.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no reason given"]
        return None, f"bubblewrap cannot create namespaces here ({why[0]})"
    return path, version or "bubblewrap"


def describe() -> str:
    """One line for the output and ``environment.json``: which sandbox workers run in."""
    path, version = bubblewrap()
    if path is None:
        return f"none ({version}; workers are plain processes with resource limits, killed as a process group)"
    return f"{version} (read-only filesystem, own pid/network/user namespaces, private /tmp)"


def _namespaces() -> list[str]:
    return ["--unshare-all", "--uid", str(SANDBOX_USER), "--gid", str(SANDBOX_USER),
            "--die-with-parent", "--new-session"]


def bwrap_arguments(view: View) -> list[str]:
    """bubblewrap's arguments for ``view``, in mount order (later mounts cover earlier ones)."""
    args = [*_namespaces(), "--hostname", "sandbox", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--size", str(view.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    for folder in view.readable:
        args += ["--ro-bind", folder, folder]
    kept = [Path(p) for p in (*view.readable, HARNESS, sys.prefix, sys.base_prefix, view.workdir)]
    for path in view.hidden:
        if not os.path.lexists(path) or any(k.is_relative_to(path) for k in kept):
            continue  # hiding it would hide the worker's own submission or its Python
        if Path(path).is_dir():
            args += ["--tmpfs", path]
        else:
            args += ["--ro-bind", "/dev/null", path]
    return args + ["--chdir", view.workdir, "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp"]


def command(view: View, worker: list[str]) -> list[str]:
    """The command line that starts ``worker`` in the sandbox (or plainly, without one)."""
    path, _ = bubblewrap()
    return worker if path is None else [path, *bwrap_arguments(view), *worker]


class PidsCgroup:
    """A pids cgroup capping the processes of one worker, where this process may make one."""

    def __init__(self, limit: int):
        self.path: Path | None = None
        for root in PIDS_CGROUP_ROOTS:
            candidate = root / f"conformance-worker-{os.getpid()}-{id(self):x}"
            with contextlib.suppress(OSError):
                candidate.mkdir()
                try:
                    (candidate / "pids.max").write_text(str(limit))
                except OSError:
                    candidate.rmdir()
                    continue
                self.path = candidate
                return

    def join(self) -> None:
        """In the child before exec: move into the cgroup (best effort)."""
        if self.path is not None:
            with contextlib.suppress(OSError):
                (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), 9)
        with contextlib.suppress(OSError):
            self.path.rmdir()
        self.path = None
