"""An assignment's grading settings, read from the instructor's file without running it.

The assignment file is a ``.py`` module defining one adapter class (whose
methods reach the student's code through ``self.submission``) and, at module
level, plain literals the grading process reads with ``ast.literal_eval``:

``API``      names the submission must define (a tuple of strings); missing ones
             make the submission ``not loaded``, naming them;
``REQUIRE``  what every submission must run, in ``--require``'s terms (``coverage``);
``POINTS``   points per check family (``forward``, ``gradient``, ``loss``,
             ``fd_directional``, ``fd_entry``, ``contract``) or per required group
             (a requirement text such as ``"bias,depth>=2"``);
``GRID``     ``"full"`` (the default) or ``"quick"``;
``FORBID``   modules a submission may not use (a list of dotted names; default:
             ``running.forbid.DEFAULT``, autograd libraries and the suite's own
             reference implementations and oracles; ``[]`` forbids nothing);
``REPRODUCE`` how the assignment's functions are called, as code templates
             (``grading.reproduce``): the smallest failing case in the feedback and
             Gradescope's output is then written in the student's own API;
``OTHER_CONVENTION``  what a forward following a common convention other than the
             assignment adapter's declared ones earns (``settings.OTHER_CONVENTION``):
             ``"accept"`` (the default: judged under it, it may pass) or ``"fail"``
             (its forward and loss fail, the convention named as the reason).

Nothing a student hands in can change these: they are read here, in the grader,
from the instructor's file; only the sandboxed worker imports it.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path

from conformance.grading import reproduce
from conformance.judge.coverage import Requirement, RequirementError
from conformance.running.forbid import DEFAULT as DEFAULT_FORBID
from conformance.settings import OTHER_CONVENTION

FAMILIES = ("forward", "gradient", "loss", "fd_directional", "fd_entry", "contract")
SETTINGS = ("API", "REQUIRE", "POINTS", "GRID", "FORBID", "OTHER_CONVENTION", "REPRODUCE")
DEFAULT_POINTS = {"forward": 1, "gradient": 1}


class AssignmentError(Exception):
    """An assignment file whose settings cannot be used; one line for the instructor."""


@dataclass(frozen=True)
class Settings:
    """What the instructor fixed: the API, the required coverage, points per entry, the grid."""

    path: Path
    api: tuple[str, ...] = ()
    require: Requirement | None = None
    points: tuple[tuple[str, float], ...] = tuple(DEFAULT_POINTS.items())
    grid: str = "full"
    forbid: tuple[str, ...] = DEFAULT_FORBID
    other_convention: str = "accept"
    #: ``REPRODUCE``'s templates by name (``grading.reproduce``); none: the layout-neutral form.
    reproduce: tuple[tuple[str, str], ...] = ()

    @property
    def max_score(self) -> float:
        return float(sum(points for _, points in self.points))


def _assignments(tree: ast.Module, path: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) and node.value is not None else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id in SETTINGS:
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    raise AssignmentError(f"{path}, line {node.lineno}: {target.id} must be a plain literal "
                                          "(a string, number, tuple, list or dict), not an expression") from None
    return found


def _api(value: object, path: Path) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else value
    if not (isinstance(names, (tuple, list)) and all(isinstance(n, str) and n.isidentifier() for n in names)):
        raise AssignmentError(f"{path}: API must be a tuple of names, e.g. ('NeuralNetwork', 'Sigmoid')")
    return tuple(names)


def _forbid(value: object, path: Path) -> tuple[str, ...]:
    names = value if isinstance(value, (list, tuple)) else None
    if names is None or not all(isinstance(n, str) and n and all(p.isidentifier() for p in n.split("."))
                                for n in names):
        raise AssignmentError(f"{path}: FORBID must be a list of module names, e.g. ['torch', 'jax']")
    return tuple(dict.fromkeys(names))


def _points(value: object, path: Path) -> tuple[tuple[str, float], ...]:
    if not (isinstance(value, dict) and value):
        raise AssignmentError(f"{path}: POINTS must be a dict of points per check family or required group, "
                              f"e.g. {{'forward': 2, 'gradient': 5}}")
    entries = []
    for key, points in value.items():
        if not (isinstance(points, (int, float)) and not isinstance(points, bool) and math.isfinite(points)
                and points >= 0):
            raise AssignmentError(f"{path}: POINTS[{key!r}] must be a number of points (0 or more)")
        if not isinstance(key, str):
            raise AssignmentError(f"{path}: POINTS' keys are check families or requirement texts, got {key!r}")
        if key not in FAMILIES:
            try:
                Requirement.parse(key)
            except RequirementError as error:
                raise AssignmentError(f"{path}: POINTS[{key!r}] is neither a check family "
                                      f"({', '.join(FAMILIES)}) nor a required group: {error}") from None
        entries.append((key, float(points)))
    return tuple(entries)


def read_settings(path: Path | str) -> Settings:
    """The assignment's settings (``AssignmentError`` for a file that cannot be used)."""
    path = Path(path)
    if path.suffix != ".py" or not path.is_file():
        raise AssignmentError(f"{path}: an assignment is a .py file" if path.is_file() else f"no such file: {path}")
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as error:
        raise AssignmentError(f"syntax error in {path}, line {error.lineno}: {error.msg}") from None
    if not any(isinstance(node, ast.ClassDef) for node in tree.body):
        raise AssignmentError(f"{path} defines no adapter class (a subclass of conformance.Adapter)")
    found = _assignments(tree, path)
    require = None
    if "REQUIRE" in found:
        if not isinstance(found["REQUIRE"], str):
            raise AssignmentError(f"{path}: REQUIRE must be a string of --require terms, e.g. 'bias,float64'")
        try:
            require = Requirement.parse(found["REQUIRE"])
        except RequirementError as error:
            raise AssignmentError(f"{path}: REQUIRE: {error}") from None
    grid = found.get("GRID", "full")
    if grid not in ("full", "quick"):
        raise AssignmentError(f"{path}: GRID must be 'full' or 'quick'")
    other = found.get("OTHER_CONVENTION", "accept")
    if not (isinstance(other, str) and other in OTHER_CONVENTION):
        raise AssignmentError(f"{path}: OTHER_CONVENTION must be {' or '.join(map(repr, OTHER_CONVENTION))} "
                              f"(what a forward following another convention than PyTorch's earns), got {other!r}")
    try:
        given = reproduce.templates(found["REPRODUCE"]) if "REPRODUCE" in found else ()
    except reproduce.TemplateError as error:
        raise AssignmentError(f"{path}: {error}") from None
    return Settings(path, _api(found.get("API", ()), path), require,
                    _points(found["POINTS"], path) if "POINTS" in found else tuple(DEFAULT_POINTS.items()), grid,
                    _forbid(found["FORBID"], path) if "FORBID" in found else DEFAULT_FORBID, other, given)
