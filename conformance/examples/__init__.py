"""Example plug-ins shipped with the package: ``conformance new --example NAME PATH`` writes
one out to start from (``numpy_mlp``: a hand-written NumPy MLP and its adapter; ``course_layers`` and
``course_rnn``: course-style layer functions with caches)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


class ExampleError(Exception):
    """An unknown example, or a path it cannot be written to; one line for the user."""


def names() -> list[str]:
    """The examples by name (their module names)."""
    return sorted(entry.name.removesuffix(".py") for entry in resources.files(__name__).iterdir()
                  if entry.name.endswith(".py") and not entry.name.startswith("_"))


def source(name: str) -> str:
    if name not in names():
        raise ExampleError(f"no example {name!r}; the examples are: {', '.join(names())}")
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
