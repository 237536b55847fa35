"""An assignment's forbidden modules are not provided to a graded submission: autograd and the
suite's own reference implementation are refused with one line, every way around the refusal
finds nothing, the part that needed them scores 0, and the honest neighbours' rows are those
of a run without the attackers. ``check`` forbids nothing."""

from __future__ import annotations

import sys

import pytest

from conformance.grading.assignment import AssignmentError, read_settings
from conformance.running import forbid, sandbox
from tests.integrity_grading import ASSIGNMENT, HONEST, grade_class, honest_class, notebook_with

pytestmark = pytest.mark.skipif(sandbox.bubblewrap()[0] is None,
                                reason=f"no sandbox: {sandbox.bubblewrap()[1]} (apt-get install bubblewrap)")

AUTOGRAD_BACKWARD = '''
def _autograd_backward(self, x, grad=None):
    xs = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    Ws = [torch.tensor(np.asarray(l.weights, dtype=np.float64), requires_grad=True) for l in self.layers]
    bs = [torch.tensor(np.asarray(l.bias, dtype=np.float64), requires_grad=True) for l in self.layers]
    h = xs
    for i, (W, b) in enumerate(zip(Ws, bs)):
        h = h @ W + b
        if i < len(Ws) - 1:
            h = torch.sigmoid(h)
    h.backward(torch.tensor(np.asarray(grad, dtype=np.float64)))
    return xs.grad.numpy(), [W.grad.numpy() for W in Ws], [b.grad.numpy() for b in bs]
'''

#: Every way around the refusal an attacker might try; torch is used wherever one works.
TRICKS = '''
import gc, importlib, importlib.machinery, importlib.util, sys
from pathlib import Path
import numpy as _np
torch, _tried = None, []
def _attempt(label, how):
    global torch
    try:
        found = how()
    except BaseException as error:
        _tried.append(f"{label}: {type(error).__name__}")
        return
    if getattr(found, "autograd", None) is not None:
        torch = found
    _tried.append(f"{label}: {'GOT TORCH' if found is not None and torch is found else 'nothing'}")
def _load(spec):
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
_attempt("sys.modules", lambda: sys.modules.get("torch"))
_attempt("gc", lambda: next((o for o in gc.get_objects() if type(o).__name__ == "module"
                             and getattr(o, "__name__", "").startswith("torch")), None))
sys.meta_path[:] = [f for f in sys.meta_path if "forbid" not in type(f).__module__]
_attempt("import without the finder", lambda: importlib.import_module("torch"))
_attempt("__import__", lambda: __import__("torch.autograd").autograd and sys.modules["torch"])
_attempt("PathFinder", lambda: _load(importlib.machinery.PathFinder.find_spec("torch")))
_torch_file = Path(_np.__file__).parent.parent / "torch" / "__init__.py"
_attempt("its file", lambda: _load(importlib.util.spec_from_file_location(
    "torch_copy", _torch_file, submodule_search_locations=[str(_torch_file.parent)])))
import conformance as _c
_reference = Path(_c.__file__).parent / "implementations" / "reference_numpy.py"
_attempt("the reference's source", lambda: _reference.read_text() and "READ THE REFERENCE")
_tried[-1] = _tried[-1].replace("nothing", "READ THE REFERENCE") if "Error" not in _tried[-1] else _tried[-1]
if torch is not None:
    NeuralNetwork.backward = _autograd_backward
raise RuntimeError("tricks: " + "; ".join(_tried))
'''

ATTACKERS = {
    # bias_mean's notebook, its backward replaced by PyTorch autograd: 10/10 where torch is provided
    "uses_autograd": notebook_with("bias_mean", ["import torch", AUTOGRAD_BACKWARD,
                                                 "NeuralNetwork.backward = _autograd_backward"]),
    "tricks": notebook_with("bias_mean", [AUTOGRAD_BACKWARD, TRICKS]),
    "borrows_the_reference": notebook_with("correct", ["from conformance.oracles.torch import reference\n"
                                                       "import conformance.implementations.reference_numpy"]),
    "imports_torch": "import torch\nimport numpy as np\n\nclass NeuralNetwork:\n    pass\n",
}


@pytest.fixture(scope="module")
def without_attackers():
    return honest_class()


@pytest.fixture(scope="module")
def with_attackers(tmp_path_factory):
    return grade_class(tmp_path_factory.mktemp("attacked"), ATTACKERS)


@pytest.fixture(scope="module")
def nothing_forbidden(tmp_path_factory):
    """The control: the same class under a copy of the assignment with ``FORBID = []``."""
    root = tmp_path_factory.mktemp("unforbidden")
    assignment = root / "assignment.py"
    assignment.write_text(ASSIGNMENT.read_text(encoding="utf-8") + "\nFORBID = []\n", encoding="utf-8")
    chosen = {name: ATTACKERS[name] for name in ("uses_autograd", "tricks")}
    return grade_class(root, chosen, assignment=assignment, honest=("correct",))


# ---- the setting and the finder, in this process ------------------------------------------------

def test_grade_forbids_autograd_and_the_suites_reference_and_oracles_by_default():
    assert read_settings(ASSIGNMENT).forbid == ("torch", "jax", "tensorflow", "autograd",
                                                "conformance.implementations", "conformance.oracles")


@pytest.mark.parametrize("line, words", [
    pytest.param("FORBID = 'torch'", "list of module names", id="a string for a list is refused"),
    pytest.param("FORBID = ['torch', 'no such-name']", "list of module names", id="a name that is no module name"),
])
def test_an_unusable_forbid_is_a_one_line_error(tmp_path, line, words):
    path = tmp_path / "a.py"
    path.write_text(f"{line}\nclass A: pass\n")
    with pytest.raises(AssignmentError, match=words):
        read_settings(path)


def test_the_refusal_covers_submodules_and_says_which_name():
    refusal = forbid.Refusal(("torch", "conformance.oracles"))
    with pytest.raises(ImportError, match="imports torch, which this assignment forbids"):
        refusal.find_spec("torch.autograd")
    assert refusal.find_spec("torchvision") is None and refusal.find_spec("conformance.running") is None
    error = ModuleNotFoundError("No module named 'conformance.oracles.torch'", name="conformance.oracles.torch")
    assert refusal.explain(error) == "imports conformance.oracles, which this assignment forbids"


def test_the_files_of_the_forbidden_modules_are_hidden_wherever_the_import_path_finds_them():
    import conformance.oracles
    import torch

    hidden = forbid.hidden_paths(("torch", "conformance.oracles", "conformance.implementations"))
    assert str(__import__("pathlib").Path(torch.__file__).resolve().parent) in hidden
    assert str(__import__("pathlib").Path(conformance.oracles.__file__).resolve().parent) in hidden
    assert any(path.endswith("implementations") for path in hidden)  # the package's link resolved


# ---- a class with attackers ------------------------------------------------------------------------

@pytest.mark.e2e
def test_the_attacks_are_real_where_nothing_is_forbidden(nothing_forbidden):
    table = nothing_forbidden.targets()
    assert table.loc["uses_autograd", "score"] == table.loc["tricks", "score"] == table.loc["correct", "score"]
    assert "GOT TORCH" in nothing_forbidden.feedback("tricks")


@pytest.mark.e2e
def test_the_honest_rows_are_the_same_as_without_the_attackers(without_attackers, with_attackers):
    for student in HONEST:
        assert with_attackers.rows(student).equals(without_attackers.rows(student)), student
    assert list(with_attackers.targets().loc[list(HONEST), "score"]) == \
        list(without_attackers.targets().loc[list(HONEST), "score"])


@pytest.mark.e2e
def test_autograd_is_refused_with_one_line_and_every_case_needing_it_scores_0(with_attackers):
    table = with_attackers.targets()
    assert "imports torch, which this assignment forbids" in with_attackers.feedback("uses_autograd")
    rows = with_attackers.rows("uses_autograd")
    ran = rows[rows["verdict"] != "not_applicable"]
    assert not ran.empty and set(ran["verdict"]) == {"error"}
    assert set(ran["detail"]) == {"imports torch, which this assignment forbids"}
    assert table.loc["uses_autograd", "score"] == 0 < table.loc["bias_mean", "score"]


@pytest.mark.e2e
def test_every_way_around_the_refusal_finds_nothing(with_attackers):
    feedback = with_attackers.feedback("tricks")
    tricks = feedback.split("tricks: ", 1)[1].splitlines()[0]
    for label in ("sys.modules", "gc", "import without the finder", "__import__", "PathFinder", "its file",
                  "the reference's source"):
        assert label in tricks
    assert "GOT TORCH" not in tricks and "READ THE REFERENCE" not in tricks, tricks
    assert with_attackers.rows("tricks").equals(with_attackers.rows("bias_mean"))


@pytest.mark.e2e
def test_the_suites_reference_and_oracles_are_refused_and_an_honest_notebook_keeps_its_grade(with_attackers):
    feedback = with_attackers.feedback("borrows_the_reference")
    assert "imports conformance.oracles, which this assignment forbids" in feedback
    table = with_attackers.targets()
    assert table.loc["borrows_the_reference", "score"] == table.loc["correct", "score"]


@pytest.mark.e2e
def test_a_module_importing_torch_is_not_loaded_with_one_line_and_scores_0(with_attackers):
    row = with_attackers.targets().loc["imports_torch"]
    assert row["verdict"] == "not loaded" and row["score"] == 0
    assert row["reason"].endswith("imports_torch imports torch, which this assignment forbids")


@pytest.mark.e2e
def test_an_assignment_that_imports_what_it_forbids_is_the_instructors_error(tmp_path):
    from conformance.grading import instructor
    from tests.integrity_grading import pinned

    path = tmp_path / "assignment.py"
    path.write_text("import torch\n" + ASSIGNMENT.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(AssignmentError, match="imports torch, which this assignment forbids"):
        instructor.decide(read_settings(path), pinned(0))


@pytest.mark.e2e
def test_forbidding_what_the_worker_needs_is_the_instructors_error(tmp_path):
    from conformance.grading import instructor
    from tests.integrity_grading import pinned

    path = tmp_path / "assignment.py"
    path.write_text(ASSIGNMENT.read_text(encoding="utf-8") + "\nFORBID = ['numpy']\n", encoding="utf-8")
    with pytest.raises(AssignmentError, match="FORBID names numpy, which the grading worker itself"):
        instructor.decide(read_settings(path), pinned(0))


@pytest.mark.e2e
def test_check_forbids_nothing(tmp_path):
    """An engineer's torch-based adapter runs under ``check``."""
    from conformance.cli import main

    adapter = tmp_path / "torch_mlp.py"
    adapter.write_text(TORCH_ADAPTER, encoding="utf-8")
    code = main(["check", str(adapter), "--quick", "--depth", "1", "--batch", "4", "--dtype", "float64",
                 "--no-timing", "--out", str(tmp_path / "r")])
    assert code == 0
    assert "torch" in sys.modules  # the grader's own oracle, as ever


TORCH_ADAPTER = '''
import numpy as np
import torch
from conformance import Adapter, Capabilities, Gradients


class TorchMlp(Adapter):
    name = "torch_mlp"
    capabilities = Capabilities(activations=frozenset({"identity"}), output_activations=frozenset({"identity"}),
                                bias=frozenset({True}), losses=frozenset())

    def build(self, spec, params):
        self.weights = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in params.weights]
        self.biases = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in params.biases]

    def forward(self, x):
        self.x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        h = self.x
        for w, b in zip(self.weights, self.biases):
            h = h @ w.T + b
        self.y = h
        return h.detach().numpy().astype(x.dtype)

    def backward(self, grad_output):
        grads = torch.autograd.grad(self.y, [self.x, *self.weights, *self.biases],
                                    torch.tensor(grad_output, dtype=torch.float64))
        n = len(self.weights)
        return Gradients(grads[0].numpy(), tuple(g.numpy() for g in grads[1:1 + n]),
                         tuple(g.numpy() for g in grads[1 + n:]))
'''
