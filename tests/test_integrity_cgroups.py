"""A worker's cgroups and the files handed to it: a plain folder is never taken for a cgroup
(and the run says no limit applies), a group goes with its worker, and a folder only root
may enter is handed over as a copy without what only root may read (nor sockets)."""

from __future__ import annotations

import os
import socket

import pytest

from conformance.running import cgroups, handover, sandbox

NOBODY = sandbox.SANDBOX_USER


@pytest.fixture
def no_real_controller(tmp_path, monkeypatch):
    """Hierarchies that are plain folders, as a tmpfs /sys/fs/cgroup offers."""
    fake = {c: cgroups.Hierarchy(c, tmp_path, 1) for c in cgroups.CONTROLLERS}
    monkeypatch.setattr(cgroups, "hierarchies", lambda: fake)
    cgroups.available.cache_clear()
    yield tmp_path
    cgroups.available.cache_clear()


def test_a_plain_folder_is_never_taken_for_a_cgroup(no_real_controller):
    groups = cgroups.WorkerGroups(1 << 30, 64)
    assert groups.paths == {}
    assert list(no_real_controller.iterdir()) == []  # nothing made is left


def test_without_a_real_controller_the_sandbox_line_says_no_limit_applies(no_real_controller):
    assert cgroups.available() == ()
    line = sandbox.describe()
    assert "no pids cgroup here" in line and "no memory cgroup here" in line
    assert "capped by a pids cgroup" not in line


@pytest.mark.skipif("pids" not in cgroups.available(), reason="no pids cgroup can be made here")
def test_a_workers_groups_are_removed_with_it():
    groups = cgroups.WorkerGroups(1 << 30, 64)
    made = list(groups.paths.values())
    assert made and all((p / "cgroup.procs").exists() for p in made)
    assert (groups.paths["pids"] / "pids.max").read_text().strip() == "64"
    groups.remove()
    assert not any(p.exists() for p in made)


@pytest.mark.skipif(os.geteuid() != 0, reason="handing over to another user needs root")
def test_a_folder_only_root_may_enter_is_handed_over_without_what_only_root_may_read(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "mine.py").write_text("x = 1\n")
    (folder / "key.txt").write_text("secret\n")
    (folder / "key.txt").chmod(0o600)
    (folder / "other.py").write_text("y = 2\n")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(folder / "grader.sock"))
        folder.chmod(0o700)
        copy = handover.hand_over(str(folder), (str(folder / "other.py"),), NOBODY, NOBODY)
    try:
        assert sorted(os.listdir(copy.shown)) == ["mine.py"]  # the hidden file, the key and the socket left out
        assert handover.readable_by(copy.shown, NOBODY, NOBODY)
        assert handover.readable_by(os.path.join(copy.shown, "mine.py"), NOBODY, NOBODY)
        assert not handover.readable_by(os.path.dirname(copy.shown), 12345, 12345)  # nobody else's
    finally:
        handover.release((copy,))
    assert not os.path.exists(copy.shown)
    folder.chmod(0o755)
    assert handover.hand_over(str(folder), (), NOBODY, NOBODY) is None  # readable as it is: shown as it is


def test_a_copy_covers_its_original_even_within_a_folder_already_shown(tmp_path):
    tmp_path.chmod(0o755)  # a folder anyone may read, bound as it is
    original = tmp_path / "sub"
    original.mkdir()
    view = sandbox.View(readable=(str(tmp_path), str(original)), copies=(handover.Copy(str(original), "/copied"),))
    args = sandbox.bwrap_arguments(view)
    binds = [tuple(args[i + 1:i + 3]) for i, a in enumerate(args) if a == "--ro-bind"]
    assert ("/copied", str(original)) in binds
    assert (str(original), str(original)) not in binds


@pytest.mark.skipif("pids" not in cgroups.available(), reason="no pids cgroup can be made here")
def test_groups_a_killed_grader_left_are_removed_by_the_next_and_live_ones_kept(monkeypatch):
    hierarchy = cgroups.hierarchies()["pids"]
    never_a_pid = int(open("/proc/sys/kernel/pid_max").read()) + 1
    left = cgroups._make(hierarchy, f"conformance-worker-{never_a_pid}-left", {"pids.max": "8"})
    mine = cgroups.WorkerGroups(1 << 30, 8)  # this process lives: its group stays
    monkeypatch.setattr(cgroups, "STALE_AFTER_S", -1.0)
    try:
        assert cgroups.sweep.__wrapped__() >= 1
        assert not left.exists() and mine.paths["pids"].exists()
    finally:
        mine.remove()
        if left.exists():
            left.rmdir()
