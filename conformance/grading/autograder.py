"""``conformance autograder ASSIGNMENT.py --out DIR``: Gradescope's autograder bundle.

Gradescope builds one container per assignment from ``setup.sh`` and, for each
submission, runs ``run_autograder``, which must write
``/autograder/results/results.json``; the student's files are in
``/autograder/submission`` and the bundle's in ``/autograder/source``. Its base
images are Ubuntu (22.04 by default, whose ``python3`` is 3.10); the suite needs
Python 3.11 or later. ``setup.sh`` installs bubblewrap with apt, then makes a
virtual environment (``/opt/conformance``) from the image's ``python3`` when it
is 3.11 or later, else from a standalone CPython 3.11 that ``uv`` (installed with
the image's pip) downloads; into it go CPU-only torch (from PyTorch's CPU index)
and the suite from the wheel shipped in the bundle, so pip is asked only for
names it can find. ``run_autograder`` grades the one submission with
``conformance grade --single``. Every path either script uses can be moved with
an environment variable (``CONFORMANCE_SOURCE``, ``CONFORMANCE_SUBMISSION``,
``CONFORMANCE_RESULTS``, ``CONFORMANCE_PYTHON``, ``CONFORMANCE_VENV``;
``CONFORMANCE_TORCH_INDEX`` empty uses pip's own index, ``CONFORMANCE_NO_APT``
skips apt), so that the platform's layout can be recreated and tried anywhere.
Should grading itself fail, ``run_autograder`` still writes a results file (score
0 and what happened) so the student sees that it was not graded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conformance.grading.assignment import read_settings

TORCH = "torch==2.13.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
#: Where setup.sh puts the grading environment, and run_autograder finds it.
VENV = "/opt/conformance"
#: The standalone CPython setup.sh installs when the image's is older than 3.11.
PYTHON = "3.11"


class BundleError(Exception):
    """The bundle cannot be written; one line."""


def setup_sh(suite: str) -> str:
    """``suite``: what pip installs the suite from, relative to the bundle (a wheel's name) or a pip spec."""
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the grading image (an Ubuntu base image).
set -euo pipefail
SOURCE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
VENV="${{CONFORMANCE_VENV:-{VENV}}}"
TORCH_INDEX="${{CONFORMANCE_TORCH_INDEX-{TORCH_INDEX}}}"
if [ -z "${{CONFORMANCE_NO_APT:-}}" ]; then
    apt-get update
    apt-get install -y --no-install-recommends bubblewrap ca-certificates python3 python3-pip python3-venv
fi
if python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python3 -m venv "$VENV"  # the image's own Python is recent enough
else
    # Ubuntu 22.04's python3 is 3.10: a standalone CPython {PYTHON}, downloaded and installed by uv
    python3 -m pip install --upgrade uv || python3 -m pip install --break-system-packages --upgrade uv
    python3 -m uv python install {PYTHON}
    python3 -m uv venv --seed --python {PYTHON} "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install {shlex.quote(TORCH)} ${{TORCH_INDEX:+--index-url "$TORCH_INDEX"}}
cd "$SOURCE"
"$VENV/bin/python" -m pip install {shlex.quote(suite)}
"$VENV/bin/python" -c "import conformance"  # the suite imports in the environment grading uses
"""


def run_autograder(timeout_s: float, memory_mb: int | None = None, target_budget_s: float | None = None) -> str:
    memory = f" --memory {memory_mb}" if memory_mb is not None else ""
    memory += f" --target-budget {target_budget_s:g}" if target_budget_s is not None else ""
    return f"""#!/usr/bin/env bash
# Gradescope runs this once per submission; it must write the results file.
set -uo pipefail
SOURCE="${{CONFORMANCE_SOURCE:-/autograder/source}}"
SUBMISSION="${{CONFORMANCE_SUBMISSION:-/autograder/submission}}"
RESULTS="${{CONFORMANCE_RESULTS:-/autograder/results/results.json}}"
PYTHON="${{CONFORMANCE_PYTHON:-${{CONFORMANCE_VENV:-{VENV}}}/bin/python}}"
REPORT="$(dirname "$RESULTS")/report"
mkdir -p "$(dirname "$RESULTS")"
rm -f "$RESULTS"
"$PYTHON" -m conformance grade "$SOURCE/assignment.py" "$SUBMISSION" --single \\
    --timeout {timeout_s:g}{memory} --jobs 1 --out "$REPORT" --gradescope "$RESULTS" 2>&1
status=$?
if [ ! -s "$RESULTS" ]; then
    message='The autograder failed (exit code %s) before it could grade this submission, so this score '
    message+='of 0 is not a grade: please tell the course staff (they can read why in its output).'
    printf '{{"score": 0, "output": "'"$message"'", "tests": []}}\\n' "$status" > "$RESULTS"
fi
cat "$REPORT"/feedback/*.md 2>/dev/null || true
exit 0
"""


def checkout() -> Path | None:
    """The source checkout the running suite comes from (None: it was installed from a wheel)."""
    root = Path(__file__).resolve().parents[2]
    project = root / "pyproject.toml"
    if project.is_file() and 'name = "backprop-conformance"' in project.read_text(encoding="utf-8"):
        return root
    return None


@contextlib.contextmanager
def _building(root: Path):
    """One wheel build at a time from a checkout: the build writes its ``build/`` and
    ``*.egg-info`` folders inside the checkout, and two bundles built at once (two commands, or
    two processes of a test run) would break each other's."""
    name = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"conformance-wheel-{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_wheel(out: Path) -> Path:
    """The suite's wheel, built from its checkout into ``out`` (offline: no build isolation)."""
    root = checkout()
    if root is None:
        raise BundleError("the suite was not installed from a checkout, so its wheel cannot be built here: "
                          "give --suite with a wheel file or a pip requirement")
    before = set(out.glob("backprop_conformance-*.whl"))
    for old in before:
        old.unlink()
    with _building(root):
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                               "-w", str(out), str(root)], capture_output=True, text=True)
    wheels = sorted(out.glob("backprop_conformance-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last = (done.stderr.strip().splitlines() or ["no wheel was written"])[-1]
        raise BundleError(f"cannot build the suite's wheel from {root}: {last}")
    return wheels[0]


def write(assignment: Path | str, out: Path | str, suite: str | None = None, timeout_s: float = 20.0,
          memory_mb: int | None = None, target_budget_s: float | None = None) -> list[Path]:
    """Write setup.sh, run_autograder, the assignment (as assignment.py) and, unless ``suite``
    names where pip finds the suite (a wheel file is copied in), the suite's wheel into ``out``."""
    assignment, out = Path(assignment), Path(out)
    read_settings(assignment)  # an assignment that cannot be graded is refused now, not on the platform
    try:
        out.mkdir(parents=True, exist_ok=True)
        shipped = _shipped(suite, out)
        files = {out / "setup.sh": setup_sh(f"./{shipped.name}" if shipped else suite),
                 out / "run_autograder": run_autograder(timeout_s, memory_mb, target_budget_s)}
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
            path.chmod(0o755)
        copied = out / "assignment.py"
        if copied.resolve() != assignment.resolve():
            shutil.copyfile(assignment, copied)
    except OSError as error:
        raise BundleError(f"cannot write the bundle into {out}: {error.strerror or error}") from None
    return [*files, copied] + ([shipped] if shipped else [])


def _shipped(suite: str | None, out: Path) -> Path | None:
    """The wheel the bundle carries: built, or the one ``suite`` names (None: a pip requirement)."""
    if suite is None:
        return build_wheel(out)
    if suite.endswith(".whl"):
        wheel = Path(suite)
        if not wheel.is_file():
            raise BundleError(f"--suite {suite}: no such wheel file")
        if wheel.resolve() != (out / wheel.name).resolve():
            shutil.copyfile(wheel, out / wheel.name)
        return out / wheel.name
    return None
