"""Example plug-ins shipped with the package: ``conformance new --example NAME PATH`` writes
one out to start from (``numpy_mlp``: a hand-written NumPy MLP and its adapter; ``course_layers`` and
``course_rnn``: course-style layer functions with caches); ``conformance new --example
assignment_004 FOLDER`` writes the worked assignment (``assignment.py`` and ``students/``)."""

from __future__ import annotations

from importlib import import_module, resources
from pathlib import Path


class ExampleError(Exception):
    """An unknown example, or a path it cannot be written to; one line for the user."""


def names() -> list[str]:
    """The examples by name (their module names)."""
    return sorted(entry.name.removesuffix(".py") for entry in resources.files(__name__).iterdir()
                  if entry.name.endswith(".py") and not entry.name.startswith("_"))


def assignments() -> list[str]:
    """The worked assignments by name (their folders, each with an ``assignment.py``)."""
    return sorted(entry.name for entry in resources.files(__name__).iterdir()
                  if entry.is_dir() and entry.joinpath("assignment.py").is_file())


def source(name: str) -> str:
    if name not in names():
        raise ExampleError(f"no example {name!r}; the examples are: {', '.join(names() + assignments())}")
    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")


def write(name: str, path: Path | str) -> Path:
    """Write the example called ``name`` to ``path``, a new ``.py`` file (never overwritten)."""
    return write_text(source(name), path)


def write_text(text: str, path: Path | str) -> Path:
    """Write ``text`` to ``path``, a new ``.py`` file (never overwritten); ``ExampleError`` if it cannot be."""
    path = Path(path)
    if path.suffix != ".py":
        raise ExampleError(f"{path}: the file must end in .py")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise ExampleError(f"{path} already exists; not overwriting it (choose another name)") from None
    except OSError as error:
        raise ExampleError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def write_assignment(name: str, folder: Path | str) -> list[Path]:
    """Write the worked assignment ``name`` into ``folder`` (new or empty): its ``assignment.py``
    and its class's notebooks in ``students/`` (``students.write``); the files written."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ExampleError(f"{folder} is not an empty folder; not writing the {name} assignment into it")
    text = resources.files(__name__).joinpath(name, "assignment.py").read_text(encoding="utf-8")
    written = [write_text(text, folder / "assignment.py")]
    try:
        return written + import_module(f"{__name__}.{name}.students").write(folder / "students")
    except OSError as error:
        raise ExampleError(f"cannot write {folder / 'students'}: {error.strerror or error}") from None
