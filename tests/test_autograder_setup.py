"""The autograder bundle on a recreated Gradescope layout: ``setup.sh`` builds a fresh virtual
environment with the Python the suite needs, installs only names pip can find (the suite from
the wheel the bundle carries), and ``run_autograder`` grades a submission with nothing of this
checkout on its path; a grading that cannot start says so truthfully."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.examples.assignment_004 import students

pytestmark = pytest.mark.e2e

EXAMPLE = Path(students.__file__).parent


def _clean_environment(root: Path) -> dict[str, str]:
    """The platform's variables, pointed into ``root``; nothing that finds this checkout."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CONFORMANCE"))}
    return keep | {"CONFORMANCE_NO_APT": "1", "CONFORMANCE_VENV": str(root / "venv"),
                   "CONFORMANCE_TORCH_INDEX": "",  # this machine's pip finds the CPU build itself
                   # pip's bytecode compilation of torch's files (a third of setup.sh's time here) makes a
                   # grading image start faster and is no part of what these tests ask of setup.sh
                   "PIP_NO_COMPILE": "1",
                   "CONFORMANCE_SOURCE": str(root / "source"), "CONFORMANCE_SUBMISSION": str(root / "submission"),
                   "CONFORMANCE_RESULTS": str(root / "results" / "results.json")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("autograder")
    assert main(["autograder", str(EXAMPLE / "assignment.py"), "--out", str(root / "source")]) == 0
    env = _clean_environment(root)
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                           cwd=root, timeout=1800)
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
    return root, env


def test_setup_asks_pip_only_for_the_shipped_wheel_and_torch(installed):
    root, _ = installed
    setup = (root / "source" / "setup.sh").read_text()
    [wheel] = (root / "source").glob("backprop_conformance-*.whl")
    commands = [part for line in setup.splitlines() for part in line.split("||") if "pip install" in part]
    asked = [part.split("pip install", 1)[1].split("#")[0].split() for part in commands]
    names = {word for words in asked for word in words if not word.startswith(("-", "$", '"$'))}
    assert names == {"pip", "uv", "torch==2.13.0", f"./{wheel.name}"}, names


def test_the_environment_has_a_recent_python_and_the_suite_from_the_wheel(installed):
    root, env = installed
    python = root / "venv" / "bin" / "python"
    found = subprocess.run([str(python), "-c", "import sys, conformance; print(sys.version_info >= (3, 11)); "
                            "print(conformance.__file__)"], env=env, capture_output=True, text=True, cwd=root)
    recent, where = found.stdout.split()
    assert recent == "True" and where.startswith(str(root / "venv")), found.stdout


def test_run_autograder_grades_with_the_installed_suite(installed):
    root, env = installed
    (root / "submission").mkdir(exist_ok=True)
    shutil.copy(EXAMPLE / "students" / "bias_mean.ipynb", root / "submission" / "homework4.ipynb")
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                         text=True, cwd=root, timeout=1200)
    assert run.returncode == 0, run.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert 0 < data["score"] < 10 and data["test_output_format"] == "md", data["output"]


def test_a_grading_that_cannot_start_says_the_score_is_not_a_grade(installed, tmp_path):
    root, env = installed
    broken = env | {"CONFORMANCE_PYTHON": str(tmp_path / "no-python-here"),
                    "CONFORMANCE_RESULTS": str(tmp_path / "results" / "results.json")}
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=broken, capture_output=True,
                         text=True, cwd=root, timeout=120)
    assert run.returncode == 0
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == 0 and "is not a grade" in data["output"] and "has been told" not in data["output"]


def test_the_wheel_installed_alone_lists_runs_writes_an_example_and_checks_it_outside_the_checkout(installed,
                                                                                                    tmp_path):
    """The environment ``setup.sh`` made holds torch and the suite's wheel and nothing of this
    checkout: the package as users install it, used from a folder elsewhere."""
    root, env = installed
    bin_dir = root / "venv" / "bin"
    env = env | {"PATH": os.pathsep.join([str(bin_dir), env.get("PATH", "")])}

    def conformance(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(bin_dir / "conformance"), *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=900)

    assert conformance("--version").returncode == 0
    listed = conformance("list")
    assert listed.returncode == 0 and any(line.startswith("reference_numpy") for line in listed.stdout.splitlines())
    # the reference, and a seed port whose recorded known defects the wheel's data file holds (a
    # narrowed grid leaves other built-ins nothing or part of what they declare: exit 1, rightly)
    ran = conformance("run", "--impl", "reference_numpy", "cached_input", "--quick", "--depth", "1", "--no-timing",
                      "--out", "run-report")
    assert "known defects" in ran.stdout, ran.stdout[-2000:]
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert conformance("new", "--example", "numpy_mlp", "x.py").returncode == 0
    checked = conformance("check", "x.py", "--quick", "--no-timing", "--out", "check-report")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    for written in ("run-report/report.html", "check-report/targets.csv"):
        assert (tmp_path / written).stat().st_size > 0, written


def test_two_bundles_built_at_once_from_one_checkout_each_get_the_wheel(tmp_path):
    from conformance.grading.autograder import build_wheel

    from helpers import together

    folders = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for folder in folders:
        folder.mkdir()
    wheels = together(*[lambda folder=folder: build_wheel(folder) for folder in folders])
    assert [wheel.parent for wheel in wheels] == folders and all(wheel.stat().st_size for wheel in wheels)
