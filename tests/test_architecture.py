"""The package order of docs/architecture.md, read from the source: every import of a harness
module (at the top of a module or inside a function) points down the order or within its own
package, and no chain of imports comes back to where it started."""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"

#: Lowest first. A module may import modules of its own layer and of the layers before it; the
#: bundled implementations and the examples are plug-ins and import the public ``conformance``.
ORDER = (
    "conformance.cases",
    "conformance.contract",
    "conformance.judge",
    "conformance.running",
    "conformance.implementations",
    "conformance.examples",
    "conformance.oracles",
    "conformance.diagnosis",
    "conformance.reporting",
    "conformance.settings",
    "conformance.functions",
    "conformance.runner",
    "conformance.audit",
    "conformance.parallel",
    "conformance.execution",
    "conformance.api",
    "conformance.pipeline",
    "conformance.check",
    "conformance.grading",
    "conformance.testing",
    "conformance.suite",
    "conformance.pytest_plugin",
    "conformance.cli",
    "conformance.__main__",
    "conformance",
)
#: Longest module before its docstring has to say why it is longer ("Longer than 300 lines:
#: <the reason>"), and the longest any module may be.
MAX_LINES, HARD_MAX_LINES = 300, 400
#: The words that start a long module's reason, and the fewest words the reason takes.
LONGER_BECAUSE, REASON_WORDS = "Longer than 300 lines:", 8


@functools.cache
def module_files() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The nodes (by id) inside an ``if`` whose test names TYPE_CHECKING."""
    def names_it(test: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id == "TYPE_CHECKING"
                   or isinstance(n, ast.Attribute) and n.attr == "TYPE_CHECKING" for n in ast.walk(test))
    return {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If) and names_it(node.test)
            for inner in ast.walk(node)}


@functools.cache
def syntax_tree(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once for every test that reads it."""
    return ast.parse(path.read_text(encoding="utf-8"))


def imports(path: Path, modules: set[str]) -> set[str]:
    """The harness modules a file imports, wherever in the file (TYPE_CHECKING blocks aside)."""
    tree = syntax_tree(path)
    hidden = _type_checking_only(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        if id(node) in hidden:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("conformance"):
                found.add(name)
    return found


def layer(module: str) -> int:
    for i, prefix in enumerate(ORDER):
        if module == prefix or module.startswith(prefix + "."):
            return i
    raise AssertionError(f"{module} has no place in the package order")


@functools.cache
def graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imports(path, set(files)) - {name} for name, path in files.items()
            if not name.startswith("conformance.implementations")}


def test_every_module_has_a_place_in_the_order():
    for name in module_files():
        layer(name)


def test_no_import_runs_upward():
    upward = [f"{module} imports {target}" for module, targets in graph().items() for target in targets
              if target != "conformance" and layer(target) > layer(module)]
    assert upward == []


def test_no_import_circle():
    edges = graph()
    circles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                circles.append(" → ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_order_holds_for_the_real_imports():
    """Importing each module in the order, the lowest first, succeeds."""
    for name in sorted(module_files(), key=layer):
        if not name.endswith("__main__"):
            importlib.import_module(name)


@pytest.mark.parametrize("name", sorted(module_files()))
def test_a_long_module_says_why(name):
    path = module_files()[name]
    text = path.read_text(encoding="utf-8")
    doc = ast.get_docstring(syntax_tree(path)) or ""
    assert doc, f"{name} has no docstring saying what it is for"
    if len(text.splitlines()) > MAX_LINES:
        reason = doc.partition(LONGER_BECAUSE)[2].split("\n\n")[0].split()
        assert len(reason) >= REASON_WORDS, (
            f"{name} is over {MAX_LINES} lines and its docstring does not say why "
            f"(a paragraph starting {LONGER_BECAUSE!r} and giving the reason)")


@pytest.mark.parametrize("name", sorted(module_files()))
def test_no_module_is_over_the_hard_limit(name):
    lines = len(module_files()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= HARD_MAX_LINES, f"{name} has {lines} lines: split it (no module is over {HARD_MAX_LINES})"


def test_a_stated_reason_is_a_sentence_not_a_word():
    import re

    def says_why(doc: str) -> bool:
        return len(doc.partition(LONGER_BECAUSE)[2].split("\n\n")[0].split()) >= REASON_WORDS

    assert not says_why("A module of many lines.")
    assert not says_why(f"What it is.\n\n{LONGER_BECAUSE} it is.")
    assert says_why(f"What it is.\n\n{LONGER_BECAUSE} the parser, the progress display and the verbs share one state.")
    assert re.match(r"Longer than \d+ lines:", LONGER_BECAUSE) and str(MAX_LINES) in LONGER_BECAUSE


PLUGIN_IMPORTS = {
    "conformance.examples": ("conformance",),
    "conformance.implementations": ("conformance", "conformance.contract", "conformance.cases",
                                    "conformance.implementations", "conformance.running.guard"),
}


@pytest.mark.parametrize("package", sorted(PLUGIN_IMPORTS))
def test_plug_ins_import_only_what_they_are_allowed(package):
    """The shipped examples use the public names, as a user's adapter does; the bundled
    implementations the contract, the case model, each other and the interpreter-state guard."""
    allowed = PLUGIN_IMPORTS[package]
    files = module_files()
    wrong = [f"{name} imports {target}" for name, path in files.items() if name.startswith(package)
             for target in imports(path, set(files)) - {name}
             if not any(target == a or (a != "conformance" and target.startswith(a + ".")) for a in allowed)]
    assert wrong == []


def test_the_bundled_implementations_are_part_of_the_package():
    import conformance.implementations.reference_numpy as reference
    from conformance.running.targets import BUILTINS

    assert Path(reference.__file__).resolve().parent == PACKAGE.parent / "implementations"
    assert all(source.startswith("conformance.implementations.") for source in BUILTINS.values())


def test_a_users_own_folder_named_implementations_does_not_shadow_the_builtins(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "implementations").mkdir()
    (tmp_path / "implementations" / "__init__.py").write_text("raise ImportError('the user’s own package')\n")
    env = os.environ | {"PYTHONPATH": str(PACKAGE.parent)}
    code = ("from conformance.running.targets import builtin; "
            "print(type(builtin('reference_numpy').loaded_here().new()).__name__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ReferenceNumpy"


def test_every_package_of_the_harness_is_installed():
    """pyproject.toml lists the packages (the bundled implementations are mapped from the top
    folder, which automatic discovery cannot do): a new folder must be listed there too."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(PACKAGE.parent).parts) for path in PACKAGE.rglob("__init__.py")
             if "implementations" not in path.parent.relative_to(PACKAGE).parts}
    assert found | {"conformance.implementations"} == listed


def test_both_drivers_serve_every_request_of_the_driver_protocol_with_the_same_parameters():
    import inspect

    from conformance.running.driver import Driver
    from conformance.running.isolation import WorkerDriver
    from conformance.running.protocol import ImplementationDriver

    for member, due in vars(ImplementationDriver).items():
        if member.startswith("_") or not callable(due):
            continue
        for driver in (Driver, WorkerDriver):
            served = getattr(driver, member, None)
            assert callable(served), f"{driver.__name__} has no {member}"
            assert list(inspect.signature(served).parameters) == list(inspect.signature(due).parameters), \
                f"{driver.__name__}.{member} takes other parameters than the protocol's"


def test_every_results_column_the_documents_name_is_a_column():
    """The words that send a reader to a column of results.csv name a real one (the README once
    said the diagnosis ends the row's ``detail``; it has its own column)."""
    import re

    from conformance.judge.results import COLUMNS

    pages = [PACKAGE.parent / "README.md", *sorted((PACKAGE.parent / "docs").glob("*.md"))]
    pattern = r"row.s `(\w+)`|`(\w+)` column (?:in|of) `?results|column `?(\w+)`? (?:in|of) `?results"
    named = {(page.name, name) for page in pages for names in re.findall(pattern, page.read_text())
             for name in names if name}
    assert named, "no page names a column: the pattern no longer matches the documents"
    assert [f"{page}: {name}" for page, name in sorted(named) if name not in COLUMNS] == []


def test_the_diagnosis_page_sends_the_reader_to_the_diagnosis_column(checked):
    """A failing row's diagnosis is its own column, not the end of ``detail``; the page says so."""
    import pandas as pd

    rows = pd.read_csv(checked.report / "results.csv", keep_default_na=False)
    diagnosed = rows[(rows["verdict"] == "fail") & (rows["diagnosis"] != "")]
    assert len(diagnosed) and not any(str(d) in str(t) for d, t in zip(diagnosed["diagnosis"], diagnosed["detail"]))
    page = (PACKAGE.parent / "docs" / "diagnosis.md").read_text()
    assert "`diagnosis` column" in page and "ends the failing row's `detail`" not in page
