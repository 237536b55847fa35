"""``conformance grade ASSIGNMENT.py SUBMISSIONS…``: a class graded by the instructor's adapter.

Each submission (a ``.py`` file, a folder, an ``.ipynb`` notebook; folders and
globs of them) is a target known by its path as given, loaded and run in its
own sandboxed worker with the assignment's adapter; the assignment's settings
(``assignment``) fix the API, the required coverage and the points. Out come a
block and a table row per student (with the score), ``targets.csv`` with a score
column, a feedback file per student in ``OUT/feedback/``, the report with a class
summary (how many students made which mistake), and on request Gradescope's
``results.json`` (one submission) and JUnit XML. A submission that cannot be
loaded is a row with the reason and a score of 0, never a crash.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence, TextIO

from conformance import pipeline
from conformance.check import announce
from conformance.reporting.verdicts import aligned, exit_code, render_target, summary_table
from conformance.grading import feedback, gradescope, instructor, scores, seeds
from conformance.grading.assignment import AssignmentError, read_settings
from conformance.grading.summary import class_summary, class_table, grades_csv
from conformance.running.limits import Limits
from conformance.running.targets import Target, Unloadable, ignored, submissions
from conformance.cases.spec import Case
from conformance.cases.grid import default_grid


@dataclass(frozen=True)
class Outputs:
    """Where grading writes besides the report folder."""

    gradescope: Path | None = None
    junit_xml: Path | None = None


def score_table(results, grades: dict[str, scores.Grade]):
    table = summary_table(results)
    table.insert(3, "score", [grades[r.source].score for r in results])
    table.insert(4, "max score", [grades[r.source].max_score for r in results])
    return table


def _write_feedback(folder: Path, results, grades, notes, cases, given=()) -> list[str]:
    """One file per student; one that cannot be written costs only itself. What failed."""
    from conformance.reporting.files import write_atomically
    from conformance.running.faults import describe_exception

    out, failed = folder / "feedback", []
    out.mkdir(exist_ok=True)
    for result in results:
        try:
            text = feedback.markdown(result, grades[result.source], notes.get(result.source, ()), cases, given)
            write_atomically(out / feedback.file_name(result.source), text + "\n")
        except Exception as error:  # the other students' feedback still goes out
            failed.append(f"the feedback of {result.source} could not be written ({describe_exception(error)})")
    return failed


def _parts(checked: pipeline.Checked, grades, notes, cases, outputs: Outputs, given=()) -> list:
    """Every output, grades first (targets.csv, feedback, Gradescope), then the report and
    JUnit XML (``pipeline.write_parts`` writes each on its own)."""
    from conformance.reporting.files import write_atomically

    folder, results = checked.folder, checked.results

    def gradescope_file():
        if outputs.gradescope is not None:
            gradescope.write(outputs.gradescope, results[0], grades[results[0].source],
                             notes.get(results[0].source, ()), cases, given)

    sheet_csv = grades_csv(checked.report.class_view)
    return [("targets.csv", pipeline.sheet_part(folder, score_table(results, grades))),
            ("grades.csv", lambda: write_atomically(folder / "grades.csv", sheet_csv)),
            ("feedback", lambda: _write_feedback(folder, results, grades, notes, cases, given)),
            ("the Gradescope file", gradescope_file),
            ("the report", pipeline.report_part(checked, when_empty=False)),
            ("the JUnit file", pipeline.junit_part(checked, outputs.junit_xml))]


def command(
    assignment: Path | str,
    named: Sequence[str],
    *,
    out: Path | str = "reports",
    quick: bool = False,
    seed: int | None = None,
    limits: Limits = Limits(),
    jobs: int = 1,
    single: bool = False,
    outputs: Outputs = Outputs(),
    resume: bool = False,
    progress=None,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
    grid: Callable[[int], Sequence[Case]] | None = None,
    shard=None,
) -> int:
    """Grade every named submission; the exit code is ``conformance check``'s. ``seed`` None
    draws one at random (``seeds``); ``grid`` gives the cases for a seed instead of the
    assignment's grid (a test pins a few)."""
    from conformance.judge.coverage import RequirementError, check_grid
    from conformance.reporting.files import ReportError
    from conformance.settings import Checks, Options

    settings = read_settings(assignment)
    folder = pipeline.report_folder(out, sheet=False)
    pipeline.resumable(folder, resume)  # before the assignment's worker decides anything
    seed = seeds.choose(seed, folder, resume)
    cases = (list(grid(seed.value)) if grid is not None
             else default_grid(seed=seed.value, quick=quick or settings.grid == "quick"))
    if settings.require is not None:
        try:
            check_grid(settings.require, cases)
        except RequirementError as error:
            raise AssignmentError(f"{assignment}: REQUIRE: {error}") from None
    loaded = submissions(assignment, list(named), settings.api, single)
    if outputs.gradescope is not None and len(loaded) != 1:
        raise AssignmentError(f"--gradescope writes one submission's results; {len(loaded)} submissions were named")
    for item in loaded:
        if isinstance(item, Unloadable):
            print(f"conformance grade: error: {item.reason}", file=stderr)
    announce(loaded, ignored(list(named), assignment=True, single=single), "conformance grade", stderr)
    seeds.record(folder, seed)
    options = Options(checks=Checks(other_convention=settings.other_convention), limits=limits, jobs=jobs,
                      timing=False, require=settings.require, expectations=(), shard=shard)
    runnable = [item for item in loaded if isinstance(item, Target)]
    if runnable:  # which cases count: the assignment's answer, before any student's code runs
        plan = instructor.decide(settings, cases, replace(limits, hidden=limits.hidden + (str(folder.resolve()),)))
        if warning := instructor.shortfall(settings, plan, cases):
            print(f"conformance grade: warning: {warning}", file=stderr)
        planned = {t.name: t for t in instructor.planned(runnable, plan, settings)}
        loaded = [planned.get(item.name, item) if isinstance(item, Target) else item for item in loaded]
    checked = pipeline.check_targets(loaded, cases, options, folder=folder, seed=seed.value, progress=progress,
                                     resume=resume)
    for line in checked.rejected:
        print(f"conformance grade: --resume: {line}", file=stderr)
    report, results = checked.report, checked.results
    grades = {r.source: scores.grade(settings, r.rows, cases, loaded=not r.load_error) for r in results}
    notes = dict(report.load_notes)
    for item in runnable:  # what the grader noticed about the path comes first
        if item.flags:
            notes[item.name] = item.flags + tuple(notes.get(item.name, ()))
    for item in report.not_loaded:
        print(f"conformance grade: error: {item.reason}", file=stderr)
    checked = replace(checked, report=replace(report, class_summary=class_summary(results),
                                              class_view=class_table(results, grades)))
    failed = pipeline.write_parts(_parts(checked, grades, notes, cases, outputs, settings.reproduce))
    pipeline.finish(checked, failed)
    _print(results, grades, notes, checked.report, folder, folder / "feedback", stdout)
    print(seed.line(), file=stdout)
    if failed:
        raise ReportError("; ".join(failed))
    if checked.report.interrupted:
        raise ReportError("interrupted; the report holds the submissions that finished; --resume continues")
    return exit_code(results)


def _print(results, grades, notes, report, folder: Path, feedback_folder: Path, stdout: TextIO) -> None:
    for result in results:
        if result.load_error or result.not_run:
            continue
        grade = grades[result.source]
        print(render_target(result, max_problems=3), file=stdout)
        print(f"  score {grade.score:g} / {grade.max_score:g}", file=stdout)
        for note in notes.get(result.source, ()):
            print(f"  note: {note}", file=stdout)
        print(file=stdout)
    print(aligned(score_table(results, grades)), file=stdout)
    summary = report.class_summary
    if summary is not None and not summary.empty:
        print("\nmistakes in the class:", file=stdout)
        for record in summary.itertuples(index=False):
            print(f"  {record.students} × {record.mistake}", file=stdout)
    print(f"sandbox: {report.environment.get('sandbox', 'none')}", file=stdout)
    written = [folder / "report.html"] if not report.empty else []
    print(f"report: {' · '.join(map(str, written + [folder / 'targets.csv', folder / 'grades.csv', feedback_folder]))}",
          file=stdout)
