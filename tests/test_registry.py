"""Naming an implementation: a file path, an import path, an installed entry point, a folder
or a glob of submissions; anything wrong with a target is one line saying what."""

import sys
import textwrap

import pytest

from conformance.running import targets as registry
from conformance.running.isolation import describe
from conformance.running.targets import TargetError, Unloadable

#: Loading a target is the worker's job: nearly every test here starts one (end-to-end).
pytestmark = pytest.mark.e2e


def loaded(spec: str) -> dict:
    """What a sandboxed worker reports of the adapter ``spec`` names."""
    return describe(registry.load(spec))


ADAPTER = """\
from conformance.implementations.reference_numpy import ReferenceNumpy


class {cls}(ReferenceNumpy):
    name = "{name}"
"""


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def adapter_file(path, cls="Mine", name="mine"):
    return write(path, ADAPTER.format(cls=cls, name=name))


@pytest.fixture
def clean_imports(monkeypatch):
    """Whatever a test imports or puts on the path is gone afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_a_file_path_is_named_by_its_path_and_its_worker_finds_the_one_adapter_in_it(tmp_path):
    path = str(adapter_file(tmp_path / "mine.py"))
    target = registry.load(path)
    assert (target.name, target.adapter, target.source) == (path, None, path)  # nothing imported here
    assert (loaded(path)["name"], loaded(path)["class"]) == ("mine", "Mine")


def test_naming_a_file_does_not_run_it(tmp_path):
    path = write(tmp_path / "loud.py", f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    registry.load(str(path))
    registry.load_all([str(tmp_path)])
    assert not (tmp_path / "ran").exists()


def test_file_colon_class_picks_one_of_several_adapters(tmp_path):
    path = write(tmp_path / "two.py",
                 ADAPTER.format(cls="First", name="first") + "\n\nclass Second(First):\n    name = 'second'\n")
    assert loaded(f"{path}:Second")["name"] == "second"
    assert registry.load(f"{path}:Second").name == f"{path}:Second"


def test_an_import_path_loads_a_module_from_the_current_folder(tmp_path, monkeypatch, clean_imports):
    adapter_file(tmp_path / "course_pkg" / "student.py", cls="StudentAdapter", name="student")
    write(tmp_path / "course_pkg" / "__init__.py", "")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert registry.load("course_pkg.student:StudentAdapter").name == "course_pkg.student:StudentAdapter"
    assert loaded("course_pkg.student:StudentAdapter")["class"] == "StudentAdapter"


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch, clean_imports):
    """A package installed the way pip leaves one: its module and a dist-info with entry points."""
    adapter_file(tmp_path / "plugged_module.py", cls="PluggedAdapter", name="plugged")
    info = tmp_path / "plugged_dist-1.0.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: plugged-dist\nVersion: 1.0\n")
    write(info / "entry_points.txt", "[conformance.implementations]\n"
                                     "plugged = plugged_module:PluggedAdapter\n"
                                     "plugged_broken = plugged_module:NoSuchClass\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_an_installed_entry_point_is_found_by_its_name(installed_plugin):
    target = registry.load("plugged")
    assert (target.name, loaded("plugged")["class"]) == ("plugged", "PluggedAdapter")
    assert {"plugged", "plugged_broken"} <= set(registry.installed_names())


def test_a_broken_entry_point_is_one_line_naming_it(installed_plugin):
    with pytest.raises(TargetError, match=r"^entry point plugged_broken = plugged_module:NoSuchClass failed to load: "
                                          r"AttributeError"):
        loaded("plugged_broken")


def test_an_unknown_name_lists_the_built_ins_and_the_installed_plug_ins(installed_plugin):
    with pytest.raises(TargetError, match=r"unknown implementation 'nope' \(built-in: reference_numpy.*installed: "
                                          r"plugged, plugged_broken"):
        registry.load("nope")


BAD_TARGETS = {
    "missing file": ("gone.py", None, "no such file: {dir}/gone.py"),
    "no adapter": ("helpers.py", "def helper():\n    return 1\n",
                   "{dir}/helpers.py defines no adapter (a subclass of conformance.Adapter)"),
    "two adapters": ("two.py", ADAPTER.format(cls="A", name="a") + "\n\nclass B(A):\n    pass\n",
                     "{dir}/two.py defines several adapters (A, B); name one as {dir}/two.py:A"),
    "syntax error": ("typo.py", "from conformance import Adapter\n\ndef f(:\n    pass\n",
                     "syntax error in {dir}/typo.py, line 3: invalid syntax"),
    "error on import": ("crash.py", "import numpy as np\n\nW = np.zeros((3, 4)) @ np.zeros((3, 4))\n",
                        "{dir}/crash.py failed to import: ValueError: matmul: Input operand 1 has a mismatch"),
    "exit on import": ("quits.py", "import sys\nsys.exit(1)\n", "{dir}/quits.py failed to import: SystemExit: 1"),
    "missing import": ("lonely.py", "from my_network import Network\n",
                       "{dir}/lonely.py failed to import: ModuleNotFoundError: No module named 'my_network'"),
    "not an adapter": ("plain.py:Plain", "class Plain:\n    pass\n",
                       "{dir}/plain.py is not an adapter: Plain does not subclass conformance.Adapter"),
    "forgot the base class": ("duck.py", "class DuckAdapter:\n    def forward(self, x): ...\n"
                                         "    def backward(self, g): ...\n",
                              "{dir}/duck.py defines no adapter: class DuckAdapter has forward and backward "
                              "but does not subclass conformance.Adapter"),
    "missing method": ("half.py", "from conformance import Adapter\n\nclass Half(Adapter):\n"
                                  "    def build(self, spec, params): ...\n    def forward(self, x): ...\n",
                       "{dir}/half.py: adapter Half does not implement backward(grad_output); the contract expects"),
    "no such class": ("mine.py:Other", ADAPTER.format(cls="Mine", name="mine"),
                      "{dir}/mine.py has no class 'Other' (it defines: Mine)"),
    "not python": ("notes.txt", "hello\n", "{dir}/notes.txt is not a Python file (.py)"),
}


@pytest.mark.parametrize("kind", BAD_TARGETS)
def test_a_bad_target_is_one_line_saying_what_is_wrong(tmp_path, kind):
    name, text, message = BAD_TARGETS[kind]
    if text is not None:
        write(tmp_path / name.partition(":")[0], text)
    with pytest.raises(TargetError) as caught:
        loaded(str(tmp_path / name))
    assert str(caught.value).startswith(message.format(dir=tmp_path))
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_a_module_that_cannot_be_imported_is_one_line():
    with pytest.raises(TargetError, match=r"^cannot import 'no_such_package_here.adapters': No module named"):
        loaded("no_such_package_here.adapters:Mine")


def test_a_folder_stands_for_its_adapter_files_and_skips_helpers_and_tests(tmp_path):
    adapter_file(tmp_path / "subs" / "bob.py", cls="Bob", name="bob")
    adapter_file(tmp_path / "subs" / "alice.py", cls="Alice", name="alice")
    write(tmp_path / "subs" / "helpers.py", "def helper():\n    return 1\n")
    adapter_file(tmp_path / "subs" / "test_alice.py", cls="NotMe", name="not_me")
    write(tmp_path / "subs" / "typo.py", "def f(:\n")
    found = registry.load_all([str(tmp_path / "subs")])
    assert [t.source for t in found] == [str(tmp_path / "subs" / n) for n in ("alice.py", "bob.py", "typo.py")]
    with pytest.raises(TargetError, match="syntax error in .*typo.py, line 1"):
        describe(found[2])


def test_a_module_the_others_import_is_a_helper_not_a_submission(tmp_path):
    write(tmp_path / "subs" / "network.py", "class Network:\n    def forward(self, x): ...\n"
                                            "    def backward(self, g): ...\n")
    write(tmp_path / "subs" / "carol.py", "from network import Network\n" + ADAPTER.format(cls="Carol", name="c"))
    assert [t.source for t in registry.load_all([str(tmp_path / "subs")])] == [str(tmp_path / "subs" / "carol.py")]


def test_a_folder_without_any_adapter_is_one_unloadable_target(tmp_path):
    write(tmp_path / "empty" / "helpers.py", "X = 1\n")
    (only,) = registry.load_all([str(tmp_path / "empty")])
    assert only == Unloadable(str(tmp_path / "empty"), f"no .py file in {tmp_path / 'empty'} defines an adapter "
                                                       f"(a subclass of conformance.Adapter)")


def test_a_glob_stands_for_its_matches_and_one_without_matches_is_unloadable(tmp_path):
    adapter_file(tmp_path / "subs" / "alice" / "adapter.py", cls="Alice", name="alice")
    adapter_file(tmp_path / "subs" / "bob" / "adapter.py", cls="Bob", name="bob")
    files = [str(tmp_path / "subs" / who / "adapter.py") for who in ("alice", "bob")]
    assert [t.name for t in registry.load_all([str(tmp_path / "subs" / "*")])] == files
    assert [t.name for t in registry.load_all([str(tmp_path / "subs" / "*" / "adapter.py")])] == files
    (nothing,) = registry.load_all([str(tmp_path / "subs" / "*.ipynb")])
    assert isinstance(nothing, Unloadable) and nothing.reason.startswith("no .py file or folder matches")


def test_different_adapters_with_one_name_are_told_apart_by_their_file(tmp_path):
    first = adapter_file(tmp_path / "alice" / "adapter.py", cls="Mine", name="my_mlp")
    second = adapter_file(tmp_path / "bob" / "adapter.py", cls="Mine", name="my_mlp")
    names = [t.name for t in registry.load_all([str(first), str(second)])]
    assert names == [str(first), str(second)]


def test_the_same_adapter_named_twice_is_checked_once(tmp_path):
    path = adapter_file(tmp_path / "mine.py")
    found = registry.load_all([str(path), str(path), str(tmp_path)])
    assert [t.name for t in found] == [str(path)]


NEIGHBOUR = """\
from conformance.implementations.reference_numpy import ReferenceNumpy
from impl import OWNER


class Mine(ReferenceNumpy):
    name = "mine_" + OWNER
"""


def test_each_submission_imports_its_own_module_next_to_it_and_the_harness_forgets_them(tmp_path):
    for owner in ("alice", "bob"):
        write(tmp_path / owner / "impl.py", f"OWNER = {owner!r}\n")
        write(tmp_path / owner / "adapter.py", NEIGHBOUR)
    path_before = list(sys.path)
    found = registry.load_all([str(tmp_path / "alice" / "adapter.py"), str(tmp_path / "bob" / "adapter.py")])
    assert [describe(t)["name"] for t in found] == ["mine_alice", "mine_bob"]
    assert "impl" not in sys.modules and sys.path == path_before


def test_a_built_in_is_named_by_its_own_name_and_known_as_bundled():
    target = registry.load("reference_numpy")
    assert (target.name, target.builtin, target.adapter) == ("reference_numpy", True, None)
    assert describe(target)["name"] == "reference_numpy"


def test_a_file_named_like_a_built_in_is_not_the_built_in(tmp_path):
    target = registry.load(str(adapter_file(tmp_path / "two_layer_sgd.py", name="two_layer_sgd")))
    assert not target.builtin and target.name == str(tmp_path / "two_layer_sgd.py")
