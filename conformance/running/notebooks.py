"""Running a student's Jupyter notebook as one module, inside the sandboxed worker.

The notebook is read with ``nbformat``; its code cells run in order in one
module namespace, as a kernel would run them top to bottom. What only IPython
understands is skipped and listed: line magics and shell lines (``%matplotlib
inline``, ``!pip install …``, ``x = !ls``) and cell magics (``%%bash``); a
``%%time`` or ``%%capture`` cell runs its Python body. A cell that raises, or
does not compile, is a note naming the cell and the exception, and the next
cells still run, so that what the notebook defined can be graded. Each cell
gets at most ``cell_seconds`` (a training loop that never ends is stopped and
noted); the grader's own deadline for the whole load stays the backstop.
Plots need no display: the worker sets the non-interactive backend (Agg),
where ``plt.show()`` returns at once, and figures are closed after each cell.
"""

from __future__ import annotations

import re
import signal
import sys
import types
import zlib
from dataclasses import dataclass
from pathlib import Path

from conformance.running.faults import describe_exception
from conformance.running.modules import LoadError

#: Cell magics whose body is Python and is run (the magic line itself is skipped).
PYTHON_CELL_MAGICS = ("time", "capture", "timeit")
_IPYTHON_LINE = re.compile(r"\s*([%!]|[\w.,\s\[\]]+=\s*[%!]|[\w.]+\?\??\s*$)")


class CellTimeout(BaseException):
    """A cell ran out of its time (a BaseException, so that a bare ``except Exception``
    in the student's loop does not swallow it)."""


@dataclass(frozen=True)
class CellSource:
    """A code cell's Python, and the IPython lines taken out of it."""

    python: str
    skipped: tuple[str, ...] = ()
    whole_cell: bool = False


def python_source(source: str) -> CellSource:
    """The cell as plain Python: IPython-only lines become ``pass`` (the indentation kept,
    so a block stays a block); a cell magic other than ``%%time`` skips the cell."""
    lines = source.splitlines()
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split()[0] if first[2:].split() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return CellSource("", (first,), whole_cell=True)
        body = python_source("\n".join(lines[1:]))
        return CellSource(body.python, (first,) + body.skipped)
    try:
        compile(source, "<cell>", "exec")
        return CellSource(source)
    except (SyntaxError, ValueError):
        pass
    kept, skipped = [], []
    for line in lines:
        if _IPYTHON_LINE.match(line) and line.strip():
            skipped.append(line.strip())
            kept.append(line[: len(line) - len(line.lstrip())] + "pass")
        else:
            kept.append(line)
    return CellSource("\n".join(kept), tuple(skipped))


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read(path: Path, shown: str):
    import nbformat

    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as error:  # any way the file is not a notebook
        raise LoadError(f"{shown} is not a readable notebook: {describe_exception(error)}") from None


def _alarm(signum, frame) -> None:
    raise CellTimeout()


def _close_figures() -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        try:
            pyplot.close("all")
        except Exception:  # the student's matplotlib state is theirs
            pass


def _run_cell(code, namespace: dict, seconds: float) -> None:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)  # and again each second, should it be caught
    try:
        exec(code, namespace)  # the point: the student's cell, in the sandbox
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _close_figures()


def run_cell(number: int, source: str, namespace: dict, seconds: float) -> list[str]:
    """Run one code cell in ``namespace``; the notes it leaves (skipped lines, its failure)."""
    cell = python_source(source)
    notes = [f"cell {number}: skipped {'the cell magic' if cell.whole_cell else 'IPython line'} "
             f"`{_short(line)}`" for line in cell.skipped]
    if cell.whole_cell or not cell.python.strip():
        return notes
    try:
        code = compile(cell.python, f"cell {number}", "exec")
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        where = f", line {line}" if line else ""
        return notes + [f"cell {number} does not compile{where}: {getattr(error, 'msg', error)}; skipped"]
    try:
        _run_cell(code, namespace, seconds)
    except CellTimeout:
        notes.append(f"cell {number} was stopped after {seconds:g} s (still running: an endless loop?)")
    except (Exception, SystemExit) as error:  # the student's exception, noted
        notes.append(f"cell {number} raised {describe_exception(error)}")
    return notes


def run_notebook(path: Path, shown: str, cell_seconds: float) -> tuple[types.ModuleType, tuple[str, ...]]:
    """Execute the notebook's code cells in order into one module; (module, notes)."""
    notebook = _read(path, shown)
    name = f"submission_{zlib.crc32(str(path.resolve()).encode()):08x}"
    module = types.ModuleType(name, f"the notebook {shown}")
    module.__file__ = str(path)
    module.__dict__["display"] = lambda *objects, **options: None  # IPython's, for demo cells
    sys.modules[name] = module
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # a kernel imports the notebook's neighbours
    notes: list[str] = []
    cells = notebook.get("cells", [])
    for number, cell in enumerate(cells, start=1):
        if cell.get("cell_type") == "code":
            notes += run_cell(number, str(cell.get("source", "")), module.__dict__, cell_seconds)
    if not any(c.get("cell_type") == "code" for c in cells):
        raise LoadError(f"{shown} has no code cell")
    return module, tuple(notes)
