"""A file target that imports its own folder as a package (``from adapters.base import …`` in
``adapters/derived.py``), run through ``conformance check`` in the sandboxed worker, is not
loaded and is told in one line why (its folder is no package in the private copy it runs from)
and what to do; a target that imports its neighbour as a top-level module loads."""

from __future__ import annotations

import pytest

from helpers import fresh_python

pytestmark = pytest.mark.e2e

BASE = '''
import numpy as np
from conformance import Adapter, Capabilities, Gradients


class Linear(Adapter):
    name = "linear"
    capabilities = Capabilities(activations={"identity"}, output_activations={"identity"}, min_depth=1,
                                max_depth=1, bias={True})

    def build(self, spec, params):
        self.w, self.b = params.weights[0], params.biases[0]

    def forward(self, x):
        self.x = x
        return x @ self.w.T + self.b

    def backward(self, g):
        return Gradients(g @ self.w, (g.T @ self.x,), (g.sum(axis=0),))
'''


def _folder(tmp_path, import_line: str):
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "base.py").write_text(BASE)
    (tmp_path / "adapters" / "derived.py").write_text(f"{import_line}\n\n\nclass Derived(Linear):\n"
                                                      "    name = 'derived'\n")


def test_a_target_importing_its_own_folder_as_a_package_gets_the_one_line_hint(tmp_path):
    _folder(tmp_path, "from adapters.base import Linear")
    done = fresh_python("-m", "conformance", "check", "adapters/derived.py:Derived", "--quick",
                        "--out", str(tmp_path / "report"), cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "No module named 'adapters'" in errors[0], errors[0]
    assert "a file target runs from a private copy of its own folder" in errors[0], errors[0]
    assert "`from adapters.x import …` is `from x import …` there" in errors[0], errors[0]
    assert "adapters.derived:Class" in errors[0], errors[0]


def test_the_same_target_importing_its_neighbour_as_a_top_level_module_loads(tmp_path):
    _folder(tmp_path, "from base import Linear")
    done = fresh_python("-m", "conformance", "check", "adapters/derived.py:Derived", "--quick", "--no-timing",
                        "--activation", "identity", "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "derived" in done.stdout and "conforms" in done.stdout.lower(), done.stdout
