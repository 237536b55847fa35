"""``conformance autograder ASSIGNMENT.py --out DIR``: Gradescope's autograder bundle.

Gradescope builds one container per assignment from ``setup.sh`` and, for each
submission, runs ``run_autograder``, which must write
``/autograder/results/results.json``; the student's files are in
``/autograder/submission`` and the bundle's in ``/autograder/source``. The
bundle here installs bubblewrap, CPU-only torch (from PyTorch's CPU index) and
the suite, and grades the one submission with ``conformance grade --single``.
Every path ``run_autograder`` uses can be moved with an environment variable
(``CONFORMANCE_SOURCE``, ``CONFORMANCE_SUBMISSION``, ``CONFORMANCE_RESULTS``,
``CONFORMANCE_PYTHON``), so that the platform's layout can be recreated and
tried anywhere. Should grading itself fail, ``run_autograder`` still writes a
results file (score 0, the reason) so the student sees why.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from conformance.grading.assignment import read_settings

TORCH = "torch==2.13.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


class BundleError(Exception):
    """The bundle cannot be written; one line."""


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("backprop-conformance")
    except metadata.PackageNotFoundError:
        return "0.1.0"


def setup_sh(suite: str) -> str:
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the grading image.
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends bubblewrap python3 python3-pip
python3 -m pip install --upgrade pip
python3 -m pip install {shlex.quote(TORCH)} --index-url {TORCH_INDEX}
python3 -m pip install {shlex.quote(suite)}
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
PYTHON="${{CONFORMANCE_PYTHON:-python3}}"
REPORT="$(dirname "$RESULTS")/report"
mkdir -p "$(dirname "$RESULTS")"
rm -f "$RESULTS"
"$PYTHON" -m conformance grade "$SOURCE/assignment.py" "$SUBMISSION" --single \\
    --timeout {timeout_s:g}{memory} --jobs 1 --out "$REPORT" --gradescope "$RESULTS"
status=$?
if [ ! -s "$RESULTS" ]; then
    message='grading failed (exit code %s); the course staff has been told'
    printf '{{"score": 0, "output": "'"$message"'", "tests": []}}\\n' "$status" > "$RESULTS"
fi
cat "$REPORT"/feedback/*.md 2>/dev/null || true
exit 0
"""


def write(assignment: Path | str, out: Path | str, suite: str | None = None, timeout_s: float = 20.0,
          memory_mb: int | None = None, target_budget_s: float | None = None) -> list[Path]:
    """Write setup.sh, run_autograder and the assignment (as assignment.py) into ``out``;
    ``run_autograder`` grades with these limits (None: grade's default)."""
    assignment, out = Path(assignment), Path(out)
    read_settings(assignment)  # an assignment that cannot be graded is refused now, not on the platform
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = {out / "setup.sh": setup_sh(suite or f"backprop-conformance=={_version()}"),
                 out / "run_autograder": run_autograder(timeout_s, memory_mb, target_budget_s)}
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
            path.chmod(0o755)
        copied = out / "assignment.py"
        if copied.resolve() != assignment.resolve():
            shutil.copyfile(assignment, copied)
    except OSError as error:
        raise BundleError(f"cannot write the bundle into {out}: {error.strerror or error}") from None
    return [*files, copied]
