"""The sandbox a worker runs in: bubblewrap where it works, else a plain process with limits.

Under bubblewrap (``bwrap``) the worker sees only what it needs, read-only: the
system's ``/usr`` (and the ``/lib``, ``/bin`` links into it), the dynamic
linker's cache, the interpreter, the folders on its import path and its own
submission's folder, with the other submissions of the run and the report
folder hidden within them; a private ``/tmp`` and ``/dev/shm`` of bounded size
are the only places it can write, and it has its own ``/proc`` and a minimal
``/dev``. The rest of the disk (home folders, ``/root``, ``/etc``, ``/run``,
``/var``) is not there, so no Unix socket of the host can be reached by name,
and with no network namespace of the host's, by no abstract name either. It has
its own pid, network, IPC and UTS namespaces, runs in a new session and dies
with the grader; when the worker ends its pid namespace ends, and with it every
process the submission started.

It runs as an unprivileged user outside the sandbox too. A grader that is not
root runs bubblewrap in a user namespace of its own (the worker is the grader's
user outside). A grader that runs as root (as autograder platforms do) runs
bubblewrap with the namespaces above and no user namespace, so that it can
mount what the worker needs wherever it lies (an interpreter under ``/root``, a
checkout under a private ``/tmp`` folder), then the worker drops to ``nobody``
(uid and gid 65534, no supplementary groups, no capabilities, no new
privileges, every mount ``nosuid``) before anything else runs: files readable
only by root stay unreadable. Where bubblewrap cannot mount as root (a container
without that capability), it runs in a user namespace as for any user, the
worker stays root outside, and the run's sandbox line says so.

Where bubblewrap is missing or cannot create namespaces (macOS, some
containers) the worker is an ordinary process in its own process group,
killed as a group, with the grader's uid; ``describe()`` says which one a run
used, once, in the output and in ``environment.json``.
``CONFORMANCE_SANDBOX=none`` asks for the plain process even where bubblewrap
works.

Under bubblewrap the worker also cannot make a Unix socket or a memfd
(``seccomp``).

In both, the worker applies resource limits to itself before it loads any
submission code (see ``worker``): address space, CPU time, file size,
processes, no core dumps; and its processes and all the memory it holds are
capped by cgroups where real controllers are available (``cgroups``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conformance.running import cgroups, seccomp
from conformance.running.handover import Copy, readable_by

SANDBOX_USER = 65534  # nobody
HARNESS = Path(__file__).resolve().parent.parent
#: What of the system every worker sees: the linker's cache and configuration, the time zone.
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
#: Top-level names that are links into /usr on most systems (or folders of their own).
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Drops to the sandbox user before the worker starts (run by the interpreter with -I -S:
#: no site, no environment, nothing of the submission's).
DROP = (f"import os, sys; os.setgroups([]); os.setgid({SANDBOX_USER}); os.setuid({SANDBOX_USER}); "
        "os.execv(sys.argv[1], sys.argv[1:])")


@dataclass(frozen=True)
class View:
    """What a worker may see: ``readable`` paths (its submission's folder, its import
    path), ``hidden`` paths within those (other submissions, the report folder), and
    the sizes of its private ``/tmp`` and ``/dev/shm``; ``copies`` are shown in place of
    readable paths the sandbox user could not read (``handover``)."""

    readable: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    tmp_mb: int = 64
    shm_mb: int = 64
    workdir: str = "/tmp"
    copies: tuple[Copy, ...] = ()


def as_root() -> bool:
    """Whether the grader runs as root."""
    return os.geteuid() == 0


def drops() -> bool:
    """Whether workers drop from root to the sandbox user (bubblewrap mounts as root here)."""
    return _probe()[2]


def bubblewrap() -> tuple[str | None, str]:
    """(path of bwrap, its version) where it can build a sandbox here, else (None, why not)."""
    return _probe()[:2]


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[str | None, str, bool]:
    """(bwrap, its version, whether it mounts as root) or (None, why not, False). As root,
    bubblewrap without a user namespace first; where it cannot mount that way (a container
    without the capability), in a user namespace, where the worker stays root outside."""
    if os.environ.get("CONFORMANCE_SANDBOX", "").strip().lower() == "none":
        return None, "turned off by CONFORMANCE_SANDBOX=none", False
    path = shutil.which("bwrap")
    if path is None:
        return None, "bubblewrap (bwrap) is not installed", False
    why = ["no reason given"]
    for privileged in (True, False) if as_root() else (False,):
        try:
            probe = subprocess.run([path, *_namespaces(privileged), *_system(), "--proc", "/proc", "--dev", "/dev",
                                    "true"], capture_output=True, timeout=20)
            version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError) as error:
            return None, f"bubblewrap could not run ({type(error).__name__})", False
        if probe.returncode == 0:
            return path, version or "bubblewrap", privileged
        why = probe.stderr.decode(errors="replace").strip().splitlines()[-1:] or why
    return None, f"bubblewrap cannot create namespaces here ({why[0]})", False


def describe() -> str:
    """One line for the output and ``environment.json``: which sandbox workers run in, as
    which user, and what caps their processes and memory."""
    path, version = bubblewrap()
    caps = _caps_line(path is not None)
    if path is None:
        user = "as root" if as_root() else "as the grader's user"
        return (f"none ({version}; workers are plain processes {user} with resource limits, killed as a process "
                f"group; {caps})")
    user = (f"as uid {SANDBOX_USER} (dropped from root)" if drops() else
            "as root outside it (bubblewrap cannot mount as root here)" if as_root() else "as the grader's user")
    calls = "no Unix sockets or memfds of its own" if seccomp.supported() else "no seccomp filter on this machine"
    return (f"{version} (only the interpreter, its import path and the submission read-only, private /tmp and "
            f"/dev/shm; own pid/network namespaces; {user}; {calls}; {caps})")


def _caps_line(sandboxed: bool) -> str:
    have = cgroups.available()
    memory = "memory capped by a cgroup" if "memory" in have else \
        "no memory cgroup here: /dev/shm and /tmp are bounded by size, memfds by the file size limit each"
    if "pids" in have:
        return f"processes capped by a pids cgroup; {memory}"
    if sandboxed and not drops():
        return f"no pids cgroup here: processes capped by RLIMIT_NPROC in the worker's user namespace; {memory}"
    return f"no pids cgroup here: processes are not capped; {memory}"


def _namespaces(privileged: bool) -> list[str]:
    common = ["--die-with-parent", "--new-session"]
    if privileged:
        return ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", *common]
    return ["--unshare-all", "--uid", str(SANDBOX_USER), "--gid", str(SANDBOX_USER), *common]


def _system() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in SYSTEM_LINKS:
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    for name in SYSTEM_FILES:
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    return args


def _interpreter() -> tuple[str, ...]:
    """The folders the interpreter runs from: its prefixes and its executable's own prefix."""
    executable = Path(os.path.realpath(sys.executable)).parent.parent
    return tuple(dict.fromkeys(os.path.abspath(p) for p in
                               (sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix, executable)))


def _within(path: Path, folders: list[Path]) -> bool:
    return any(path.is_relative_to(f) for f in folders)


#: Folders the sandbox has before any bind: made by bubblewrap's own mounts.
MOUNTED = (Path("/"), Path("/tmp"), Path("/dev"), Path("/proc"))


def _harness() -> tuple[str, ...]:
    """The suite's own package, and what its links lead to (its bundled implementations)."""
    links = (os.path.realpath(entry) for entry in HARNESS.iterdir() if entry.is_symlink())
    return (str(HARNESS), *(link for link in links if os.path.isdir(link)))


def _readable_parts(path: Path) -> list[Path]:
    """``path`` if the sandbox user may read it; else, for a folder, the entries within it
    that it may (a fresh checkout in a folder only root may enter), one level down."""
    if readable_by(str(path), SANDBOX_USER, SANDBOX_USER):
        return [path]
    if not path.is_dir() or path.is_symlink():
        return []
    return [entry for entry in path.iterdir() if (entry.is_dir() or entry.is_file()) and not entry.is_symlink()
            and readable_by(str(entry), SANDBOX_USER, SANDBOX_USER)]


def _binds(view: View) -> list[str]:
    """Read-only binds of the interpreter, the suite and ``view.readable`` (outermost first),
    each with the folders above it made, world-readable, in the sandbox's own root. As
    root, a folder the sandbox user could not enter is shown by its copy if it has one,
    else by what within it the user may read (``_readable_parts``)."""
    sources = {Path(c.original): c.shown for c in view.copies}
    wanted = {Path(os.path.abspath(p)) for p in (*_interpreter(), *_harness(), *view.readable) if os.path.exists(p)}
    if drops():
        wanted = {part for p in wanted for part in ([p] if p in sources else _readable_parts(p))}
    wanted = sorted(wanted, key=lambda p: (len(p.parts), str(p)))
    shown = [Path("/usr"), *map(Path, SYSTEM_FILES)]
    args, made = [], set(MOUNTED)
    for path in wanted:
        if _within(path, shown) and path not in sources:
            continue  # already visible (a copy still covers its original, where that lies)
        for parent in reversed(path.parents):
            if parent not in made and not _within(parent, shown):
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", sources.get(path, str(path)), str(path)]
        shown.append(path)
    return args


def _hidden(view: View, shown: tuple[str, ...]) -> list[str]:
    """Covers for the hidden paths that lie within what is shown (others are not there)."""
    kept = [Path(p) for p in (*view.readable, HARNESS, *_interpreter(), view.workdir)]
    visible = [Path(p) for p in shown]
    copied = [Path(c.original) for c in view.copies]  # copied without them
    args = []
    for path in view.hidden:
        if (not os.path.lexists(path) or not _within(Path(path), visible) or _within(Path(path), copied)
                or any(k.is_relative_to(path) for k in kept)):
            continue  # not shown, or hiding it would hide the worker's own submission or its Python
        args += ["--tmpfs", path] if Path(path).is_dir() else ["--ro-bind", "/dev/null", path]
    return args


def bwrap_arguments(view: View, filter_fd: int | None = None) -> list[str]:
    """bubblewrap's arguments for ``view``, in mount order (later mounts cover earlier ones),
    with the system-call filter read from ``filter_fd`` (``seccomp.pipe()``)."""
    mib = 1024 * 1024
    args = ["--seccomp", str(filter_fd)] if filter_fd is not None else []
    args += [*_namespaces(drops()), "--hostname", "sandbox", *_system(), "--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(view.shm_mb * mib), "--tmpfs", "/dev/shm",
             "--perms", "1777", "--size", str(view.tmp_mb * mib), "--tmpfs", "/tmp"]
    args += _binds(view)
    args += _hidden(view, (*_interpreter(), *view.readable))
    return args + ["--chdir", view.workdir, "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp"]


def command(view: View, worker: list[str], filter_fd: int | None = None) -> list[str]:
    """The command line that starts ``worker`` in the sandbox (or plainly, without one); as
    root, through ``DROP`` to the sandbox user first."""
    path, _ = bubblewrap()
    if path is None:
        return worker
    drop = [sys.executable, "-I", "-S", "-c", DROP] if drops() else []
    return [path, *bwrap_arguments(view, filter_fd), *drop, *worker]


def system_call_filter() -> int | None:
    """A file descriptor of the filter for the next worker (to pass on, then close), where
    bubblewrap runs and the machine has one."""
    return seccomp.pipe() if bubblewrap()[0] is not None and seccomp.supported() else None


