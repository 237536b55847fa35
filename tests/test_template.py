"""``conformance new PATH``: a commented adapter template that runs as soon as its marked lines
match the implementation, and never overwrites a file."""

import pytest

from conformance.running import targets as registry
from conformance.contract import template
from conformance.running.isolation import describe
from conformance.check import check_target
from conformance.running.targets import TargetError
from conformance.cases.grid import smoke_grid
from conformance.contract.template import TemplateError

#: A course-style network the template's marked lines fit as written: weights (n_in, n_out),
#: biases (1, n_out), backward returning (grad_x, grad_weights, grad_biases).
MY_NETWORK = """\
import numpy as np

F = {"identity": (lambda z: z, lambda z: np.ones_like(z)),
     "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
     "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
     "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2)}


class Network:
    def __init__(self, weights, biases, activations):
        self.W, self.b, self.act = weights, biases, activations

    def forward(self, x):
        self.xs, self.zs = [], []
        for W, b, a in zip(self.W, self.b, self.act):
            self.xs.append(x)
            self.zs.append(x @ W + (0 if b is None else b))
            x = F[a][0](self.zs[-1])
        return x

    def backward(self, g):
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        for i in reversed(range(len(self.W))):
            d = g * F[self.act[i]][1](self.zs[i])
            gW[i] = self.xs[i].T @ d
            gb[i] = None if self.b[i] is None else d.sum(axis=0, keepdims=True)
            g = d @ self.W[i].T
        return g, gW, gb
"""


def test_new_writes_an_adapter_named_after_its_file(tmp_path):
    path = template.write(tmp_path / "alice-backprop.py")
    text = path.read_text()
    assert 'class AliceBackpropAdapter(Adapter):\n    name = "alice_backprop"' in text
    assert f"conformance check {path}" in text
    compile(text, str(path), "exec")


@pytest.mark.e2e  # starts a worker
def test_the_template_conforms_once_its_marked_lines_fit_the_implementation(tmp_path):
    path = template.write(tmp_path / "mine.py")
    (tmp_path / "my_network.py").write_text(MY_NETWORK)
    result = check_target(registry.load(str(path)), smoke_grid())
    assert result.verdict == "pass"
    assert {r.check for r in result.ran} >= {"forward", "gradient", "contract"}


def test_the_template_has_only_a_few_marked_lines(tmp_path):
    marked = [line for line in template.write(tmp_path / "mine.py").read_text().splitlines() if "# FILL IN" in line]
    assert 3 <= len(marked) <= 6


@pytest.mark.e2e  # starts a worker
def test_an_untouched_template_says_what_is_missing_in_one_line(tmp_path):
    path = template.write(tmp_path / "mine.py")
    with pytest.raises(TargetError, match=r"mine.py failed to import: ModuleNotFoundError: No module named "
                                          r"'my_network' \(at mine.py:\d+ in <module>\)$"):
        describe(registry.load(str(path)))


def test_new_never_overwrites_a_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("my work\n")
    with pytest.raises(TemplateError, match="mine.py already exists; not overwriting it"):
        template.write(path)
    assert path.read_text() == "my work\n"


@pytest.mark.parametrize("name, words", [("adapter.txt", "must end in .py"),
                                         ("file.py/adapter.py", "is a file, not a folder")])
def test_new_refuses_a_path_it_cannot_use(tmp_path, name, words):
    (tmp_path / "file.py").write_text("")
    with pytest.raises(TemplateError, match=words):
        template.write(tmp_path / name)


def test_new_creates_the_folder_it_writes_into(tmp_path):
    assert template.write(tmp_path / "submissions" / "alice" / "adapter.py").is_file()


@pytest.mark.parametrize("file, class_name", [
    ("template_adapter.py", "TemplateAdapter"), ("my_adapter.py", "MyAdapter"), ("MyAdapter.py", "MyAdapter"),
    ("my_mlp.py", "MyMlpAdapter"), ("adapter.py", "AdapterAdapter"),
])
def test_the_class_is_named_after_the_file_without_saying_adapter_twice(tmp_path, file, class_name):
    assert f"class {class_name}(Adapter):" in template.write(tmp_path / file).read_text()


def test_the_template_has_a_commented_line_for_every_capabilities_field(tmp_path):
    from conformance.contract.adapter import FIELD_DOCS

    lines = template.write(tmp_path / "mine.py").read_text().splitlines()
    for name in FIELD_DOCS:
        (line,) = [line for line in lines if line.strip().startswith(f"{name}=")]
        assert "  # " in line, line
    assert any("def supports(self, spec, batch, dtype):" in line for line in lines)
