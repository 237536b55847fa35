"""Shared fixtures: one checked folder of plug-ins, run once per session over the pinned
cases, that the tests of ``check``, the examples, the plug-in and the command line read; and
the smoke audit, that the tests of the audit and of the diagnosis read.

The tests run on one thread per process, as the suite's commands do: PyTorch's thread pool
spinning on tiny tensors cost the smoke audit three times its CPU time, and more when xdist
processes or a busy machine share the cores. A thread variable set by whoever runs the tests is
left as it is."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance import api, check
from conformance.audit import audit
from conformance.running.threads import one_thread_per_process
from tests.faulty.sources import DOUBLED, NARROW, RAISES, TRANSPOSED
from tests.helpers import EXAMPLE, PINNED, captured

one_thread_per_process()

#: The checked folder's submissions, by file name: what each is there to show.
SUBMISSIONS = {
    "alice.py": None,  # the example plug-in: correct
    "bob.py": DOUBLED,  # the first weight gradient doubled
    "carol.py": RAISES,  # raises in backward
    "dave.py": "from conformance import Adapter\n\nclass Dave(Adapter)\n    pass\n",  # a syntax error
    "erin.py": TRANSPOSED,  # every weight gradient transposed (a square layer has the right shape)
    "frank.py": NARROW,  # supports no case of the grid
}


@dataclass(frozen=True)
class Checked:
    """``conformance check`` of a folder: what it printed, returned and wrote."""

    folder: Path
    report: Path
    code: int
    out: str
    err: str

    def block(self, name: str) -> str:
        """The lines printed for one submission, from its heading to the next one's."""
        path = str(self.folder / name)
        lines = self.out.splitlines()
        start = next(i for i, line in enumerate(lines) if f"({path}): " in line and not line.startswith(" "))
        end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" ")), len(lines))
        return "\n".join(lines[start:end])


@pytest.fixture(scope="session")
def checked(tmp_path_factory) -> Checked:
    """The submissions of ``SUBMISSIONS`` checked once, each in its worker, on ``PINNED``."""
    root = tmp_path_factory.mktemp("checked")
    folder = root / "submissions"
    folder.mkdir()
    for name, source in SUBMISSIONS.items():
        if source is None:
            shutil.copy(EXAMPLE, folder / name)
        else:
            (folder / name).write_text(source)
    code, out, err = captured(check.command, [str(folder)], out=root / "report", cases=list(PINNED),
                              options=api.Options(timing=False), junit_xml=root / "results.xml")
    return Checked(folder, root / "report", code, out, err)


@pytest.fixture(scope="session")
def smoke_audit() -> audit.Audit:
    """The smoke audit, run once: every mutant of the library on the case it shows in, and the
    correct implementations on those cases. ``test_audit`` judges it whole, ``test_diagnose``
    mutant by mutant."""
    return audit.run_audit(smoke=True, jobs=1)


#: The end-to-end modules that take longest, longest first (wall time of each module in a run of
#: the tier on four processes, measured per test): with ``--dist loadfile`` a module runs on one
#: process, and one of these started last would be the whole tier's tail. The tier runs with
#: ``--no-loadscope-reorder``: otherwise xdist deals the modules with the most tests first.
LONGEST_FIRST = ("test_autograder_setup.py", "test_grade.py", "test_attacks.py", "test_integrity_journal.py",
                 "test_plugin.py", "test_conformance.py", "test_audit.py", "test_cli.py", "test_check.py",
                 "test_parallel.py", "test_integrity_privilege.py", "test_integrity_imports.py",
                 "test_integrity_budget.py", "test_import_hint.py", "test_interrupt.py", "test_integrity_names.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The per-case suite belongs to the fast tier on the smoke grid only; on a larger grid
    (``--conformance-grid quick`` or ``full``) it is end-to-end, run with ``-m e2e``. The
    longest modules go first (a stable sort: the order within a module stays)."""
    if config.getoption("conformance_grid") != "smoke":
        for item in items:
            if "conformance_case" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.e2e)
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
