"""The Python API as a notebook user calls it: one name, a path, an adapter class or a list of
them; a DataFrame with the documented columns back; a clear error for a name that is wrong."""

from pathlib import Path

import pandas as pd
import pytest

import conformance
from conformance.running.targets import TargetError
from conformance.judge.results import COLUMNS
from conformance.cases.spec import Case, NetworkSpec
from examples.numpy_mlp import NumpyMLPAdapter

ROOT = Path(__file__).resolve().parent.parent
CASES = [Case(NetworkSpec.mlp([3, 4, 2], "tanh"), batch=4)]


EXAMPLE = str(ROOT / "examples" / "numpy_mlp.py")
CLASS = f"{NumpyMLPAdapter.__module__}:{NumpyMLPAdapter.__qualname__}"


@pytest.mark.parametrize("impls, names, isolate", [  # each result row names its target as it was given
    pytest.param("class_layers", {"class_layers"}, False, id="a built-in's name"),
    pytest.param(NumpyMLPAdapter, {CLASS}, False, id="an adapter class"),
    pytest.param([NumpyMLPAdapter], {CLASS}, False, id="a list of one class"),
    pytest.param(ROOT / "examples" / "numpy_mlp.py", {EXAMPLE}, False, id="a path"),
    pytest.param([EXAMPLE, "reference_numpy"], {EXAMPLE, "reference_numpy"}, True,
                 id="a path and a name, each in its worker", marks=pytest.mark.e2e),
])
def test_run_takes_a_name_a_path_a_class_or_a_list_of_them(impls, names, isolate):
    results = conformance.run(impls, cases=CASES, options=conformance.api.Options(isolate=isolate, timing=False))
    assert isinstance(results, pd.DataFrame) and list(results.columns) == list(COLUMNS)
    assert set(results["implementation"]) == names and set(results["verdict"]) == {"pass"}


def test_a_misspelled_name_suggests_the_right_one():
    with pytest.raises(TargetError, match="unknown implementation 'clas_layers': did you mean 'class_layers'"):
        conformance.run("clas_layers", cases=CASES)


def test_something_that_names_no_implementation_is_a_type_error():
    with pytest.raises(TypeError, match="an implementation is a name, a path, an adapter class or a Target"):
        conformance.run([42], cases=CASES)


def test_every_name_the_package_advertises_is_there():
    assert "run_case" in conformance.__all__
    for name in conformance.__all__:
        assert getattr(conformance, name) is not None, name
    assert all(f"``{name}``" in conformance.__doc__ for name in conformance.__all__)
