"""Least privilege: a worker reads nothing only root may read, sees only what it needs, reaches
no Unix socket of the host, cannot fill memory through /dev/shm or memfds, and leaves no
cgroup behind.

The attackers of ``tests/faulty/privilege`` are graded in one folder next to an honest
correct submission (alice) and an honest buggy one (bob), by the command a course runs
(``conformance check subs/``) as the user the tests run as (root on CI, as on autograder
platforms); a file only root may read lies next to the submissions and one folder up, and
the grader listens on a Unix socket in both places. The honest rows must equal a run of alice and
bob alone; each attacker shows in its name what it reached.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conformance.running import cgroups, sandbox
from tests.test_attacks import rows_of, targets

HOSTILE = Path(__file__).parent / "faulty" / "hostile"
PRIVILEGE = Path(__file__).parent / "faulty" / "privilege"
HONEST = ("alice.py", "bob.py", "_honest.py")
ATTACKERS = ("reads_root_only.py", "unix_socket.py", "fills_shm.py")
#: One small network's cases; --memory leaves the honest workers room and bounds the attacker's.
ARGS = ("--widths", "3-4-2", "--activation", "tanh", "--batch", "4", "--dtype", "float64", "--no-timing", "--jobs", "1",
        "--memory", "1024")
KEY = "instructor's solution: the answer is 42\n"

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(sandbox.bubblewrap()[0] is None,
                                 reason=f"no sandbox: {sandbox.bubblewrap()[1]} (apt-get install bubblewrap)")]


def check(root: Path, folder: str, out: str) -> tuple[subprocess.CompletedProcess, int]:
    """``conformance check`` as a course runs it, from ``root``; its result and its pid."""
    command = [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())",
               "check", folder, "--out", out, *ARGS]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), process.pid


def groups_of(pid: int) -> list[Path]:
    """Every cgroup a grader process of this pid made and left."""
    return [p for h in cgroups.hierarchies().values() for p in h.own.glob(f"conformance-worker-{pid}-*")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    (root / "base").mkdir()
    (root / "subs").mkdir()
    for name in HONEST:
        shutil.copy(HOSTILE / name, root / "base" / name)
        shutil.copy(HOSTILE / name, root / "subs" / name)
    for name in ATTACKERS:
        shutil.copy(PRIVILEGE / name, root / "subs" / name)
    for key in (root / "solution_key.txt", root / "subs" / "solution_key.txt"):
        key.write_text(KEY)
        key.chmod(0o600)
    baseline, _ = check(root, "base", "base_report")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as beside:
        for listening, path in ((server, root / "grader.sock"), (beside, root / "subs" / "grader.sock")):
            listening.bind(str(path))
            os.chmod(path, 0o777)
            listening.listen(64)
        run, pid = check(root, "subs", "report")
    return {"root": root, "run": run, "baseline": baseline, "left": groups_of(pid),
            "targets": targets(root / "report")}


def shown_name(graded, attacker: str) -> str:
    return graded["targets"][f"subs/{attacker}"]["implementation"]


def test_the_honest_rows_are_the_same_as_without_the_attackers(graded):
    root = graded["root"]
    assert graded["baseline"].returncode == 1, graded["baseline"].stderr[-2000:]  # bob fails
    assert "Traceback" not in graded["run"].stderr, graded["run"].stderr[-2000:]
    for name in ("alice", "bob"):
        pd.testing.assert_frame_equal(rows_of(root / "report", f"subs/{name}.py"),
                                      rows_of(root / "base_report", f"base/{name}.py"))
    assert graded["targets"]["subs/alice.py"]["verdict"] == "pass"
    assert graded["targets"]["subs/bob.py"]["verdict"] == "fail"


@pytest.mark.skipif(not sandbox.drops(), reason="workers keep the grader's user here (not root, or bubblewrap "
                                                  "cannot mount as root): no root-only file to protect from them")
def test_a_worker_of_a_root_grader_reads_no_file_only_root_may_read(graded):
    assert shown_name(graded, "reads_root_only.py") == "read=nothing"
    assert graded["targets"]["subs/reads_root_only.py"]["verdict"] == "pass"


def test_no_unix_socket_of_the_host_answers_a_worker(graded):
    assert shown_name(graded, "unix_socket.py") == "sockets=0"


def test_dev_shm_is_bounded_by_its_size_and_memfds_by_the_workers_memory(graded):
    row = graded["targets"]["subs/fills_shm.py"]
    if row["verdict"] == "not loaded":  # killed by its memory cgroup while filling memfds
        assert "SIGKILL" in row["reason"], row["reason"]
        return
    written = dict(re.findall(r"(\w+)=(\d+)MiB", row["implementation"]))
    assert 0 < int(written["shm"]) <= 64  # usable, and bounded by its size
    if "memory" not in cgroups.available():
        pytest.skip("no memory cgroup here: memfds are bounded only by the file size limit each")
    assert int(written["memfd"]) < 1024 + 2 * 64  # --memory, /tmp and /dev/shm


def test_the_run_says_which_user_and_caps_its_workers_have(graded):
    line = next(line for line in graded["run"].stdout.splitlines() if line.startswith("sandbox:"))
    assert ("as uid 65534" in line) == sandbox.drops()
    assert ("as root outside it" in line) == (os.geteuid() == 0 and not sandbox.drops())
    assert ("processes capped by a pids cgroup" in line) == ("pids" in cgroups.available())


def test_no_cgroup_of_a_worker_is_left_behind(graded):
    assert graded["left"] == []


@pytest.mark.skipif(not sandbox.drops(), reason="workers keep the grader's user here")
def test_a_checkout_in_a_folder_only_root_may_enter_still_runs_its_workers(tmp_path):
    checkout = tmp_path / "clone"  # as CI clones into a fresh mktemp folder
    checkout.mkdir(mode=0o700)
    harness = Path(sandbox.HARNESS)
    shutil.copytree(harness, checkout / "conformance", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(harness.parent / "implementations", checkout / "implementations",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from conformance.running import targets\nfrom conformance.running.isolation import WorkerDriver\n"
            "with WorkerDriver(targets.load('reference_numpy')) as d:\n    print(d.describe()['name'])\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=os.environ | {"PYTHONPATH": str(checkout)},
                         capture_output=True, text=True, timeout=300)
    assert run.stdout.strip() == "reference_numpy", run.stderr[-2000:]
