"""A run's product (``Report``) and the files written from it.

``Report`` holds what a run produced, as pandas tables. ``write`` puts it in a
folder: ``results.csv`` (one row per implementation × case × check × tensor, of the cases
that applied), ``not_applicable.csv`` (one row per implementation × reason a case did not
apply, with how many and the digest of their list of cases) and ``not_applicable_cases.csv``
(each distinct list once: its digest and a case a row),
``timings.csv``, ``fd_accuracy.csv`` when the finite-difference oracle measured
itself, ``environment.json``, ``summary.md`` and ``report.html``. Every file is
written atomically, and a file of the same name that this suite did not write is
never overwritten.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from conformance.judge import expectations as known
from conformance.judge.results import COLUMNS
from conformance.judge.skipped import NotApplicable
from conformance.reporting.not_applicable import CASE_LISTS, HEADERS, SUMMARY, tables as not_applicable_tables
from conformance.reporting.environment import GENERATOR
from conformance.reporting.html import report_html
from conformance.reporting.markdown import summary_markdown
from conformance.reporting.tables import TIMING_COLUMNS


FILES = ("results.csv", SUMMARY, CASE_LISTS, "timings.csv", "fd_accuracy.csv", "environment.json", "summary.md",
         "report.html")


@dataclass(frozen=True, eq=False)
class Report:
    """What one run produced."""

    results: pd.DataFrame
    timings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TIMING_COLUMNS)))
    environment: dict = field(default_factory=dict)
    expectations: tuple[known.Expectation, ...] = ()
    fd_accuracy: pd.DataFrame | None = None
    #: Set when the run was stopped early: the tables hold the targets that finished.
    interrupted: bool = False
    #: Targets whose worker could not load them, each with the reason.
    not_loaded: tuple = ()
    #: What each target's adapter calls itself (display text only), by target.
    labels: dict = field(default_factory=dict)
    #: What loading each target noticed (a notebook's skipped lines, cells that raised), by target.
    load_notes: dict = field(default_factory=dict)
    #: Grading only: how many students made which mistake (see ``grading.summary``).
    class_summary: pd.DataFrame | None = None
    #: Grading only: every student, loaded or not, with score, verdict and reason (``grading.summary``).
    class_view: pd.DataFrame | None = None
    #: Each declared family's cases and how many ran (``judge.declared.FamilyCoverage``), by target.
    coverage: dict = field(default_factory=dict)
    #: The cases that did not apply, per implementation and reason (``results`` has no row for them).
    not_applicable: NotApplicable = NotApplicable()

    @property
    def empty(self) -> bool:
        """No case finished: no result row, and no case found not to apply."""
        return self.results.empty and not self.not_applicable.entries

    @functools.cached_property
    def targets(self) -> tuple:
        """One ``verdicts.TargetResult`` per implementation, in run order: built once (the table,
        the findings, the exit code and the grades all read them; each build reads every row)."""
        from conformance.reporting.verdicts import target_results

        return tuple(target_results(self.results, self.not_applicable))

    @property
    def exit_code(self) -> int:
        """The exit code of ``reporting.verdicts``'s table for the targets' verdicts, the ones
        that could not be loaded included (an interrupted run is never 0)."""
        from conformance.reporting.verdicts import exit_code_of

        words = [r.verdict for r in self.targets]
        words += ["not loaded"] * len(self.not_loaded)
        return exit_code_of(words + ["not run"] * self.interrupted)

    def write(self, out: Path | str) -> list[Path]:
        return write(self, out)


class ReportError(Exception):
    """The report cannot be written there; the message is one line for the user."""


class NothingToResume(Exception):
    """``--resume`` on a report folder whose run completed (``pipeline.resumable``): one line, exit 0."""


def _is_ours(path: Path) -> bool:
    """Whether an existing file is one this suite wrote (so replacing it loses nothing)."""
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    if path.name in (SUMMARY, CASE_LISTS):
        return head.startswith(HEADERS[path.name] + "\n")
    if path.suffix == ".csv":
        if path.name == "fd_accuracy.csv":
            return (path.parent / "environment.json").exists() and _is_ours(path.parent / "environment.json")
        return head.startswith("implementation,case,")
    if path.suffix == ".json":
        return f'"generator": "{GENERATOR}"' in head
    if path.suffix == ".md":
        return head.startswith("# Conformance report")
    return f'<meta name="generator" content="{GENERATOR}">' in head


def check_writable(out: Path | str) -> Path:
    """The folder the report goes to, created if missing; ``ReportError`` if it cannot be used."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise ReportError(f"{out} cannot be written to: the report needs a folder it may create files in "
                          f"({error.strerror or error}); choose another with --out") from None
    if foreign := [name for name in FILES if (out / name).exists() and not _is_ours(out / name)]:
        raise ReportError(f"{out} already holds {', '.join(foreign)} not written by this suite; "
                          f"choose another folder with --out")
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: Path, content: str | bytes) -> None:
    mode = "wb" if isinstance(content, bytes) else "w"
    handle = tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=f".{path.name}.", suffix=".partial",
                                         delete=False, **({} if mode == "wb" else {"encoding": "utf-8"}))
    try:
        with handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())  # as an ordinary file, not the temporary file's 0600
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


def _csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, lineterminator="\n")


def _parts(report: Report) -> dict:
    """Each file of the report, by name, as a function that makes its content."""
    parts = {
        "results.csv": lambda: _csv(report.results.reindex(columns=list(COLUMNS))),
        "timings.csv": lambda: _csv(report.timings.reindex(columns=list(TIMING_COLUMNS))),
    }
    summary, lists = not_applicable_tables(report.not_applicable).values()
    parts |= {SUMMARY: lambda: _csv(summary), CASE_LISTS: lambda: _csv(lists)}
    if report.fd_accuracy is not None:
        parts["fd_accuracy.csv"] = lambda: _csv(report.fd_accuracy)
    parts["environment.json"] = lambda: json.dumps(report.environment | {"interrupted": report.interrupted},
                                                   indent=2, default=str) + "\n"
    parts["summary.md"] = lambda: summary_markdown(report)
    parts["report.html"] = lambda: report_html(report)
    return parts


def write(report: Report, out: Path | str) -> list[Path]:
    """Every file of the report into ``out``; returns their paths. Each file is written to a
    temporary name and moved into place, so a reader never sees half a file. A file that
    cannot be made costs only itself: the others are written, then ``ReportError`` names it."""
    from conformance.running.faults import describe_exception

    out = check_writable(out)
    written, failed = [], []
    for name, make in _parts(report).items():
        try:
            write_atomically(out / name, make())
        except Exception as error:  # one part never takes the others with it
            failed.append(f"{name} could not be written ({describe_exception(error)})")
            continue
        written.append(out / name)
    if failed:
        raise ReportError("; ".join(failed) + f"; the other files are in {out}")
    return written
