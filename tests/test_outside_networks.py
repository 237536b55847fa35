"""Networks written from the README and docs alone, in styles unlike the project's
(``tests/outside/``): a min-char-rnn-style RNN, a tutorial-style NumPy transformer block, a
column-vector float32-only MLP. The correct ones conform; each planted classic bug fails, at
the right layer, with its cause named where the diagnosis knows it. The fast tests run a few
pinned cases in-process; the end-to-end one runs them sandboxed on the quick grid."""

from pathlib import Path

import pytest

from conformance.cases.grid import default_grid
from conformance.cases.layers import SequenceSpec
from conformance.check import check_target
from conformance.reporting.verdicts import problem_lines
from conformance.running import targets as registry
from conformance.running.driver import Driver
from conformance.runner import case_outcome

OUTSIDE = Path(__file__).parent / "outside"
BLOCK = "residual_layernorm_attention.causal-residual_layernorm_dense_gelu_dense"

#: Each file's planted variants: the line as written, the line with the bug.
PLANTS = {
    "rnn_no_bptt": ("minchar_rnn.py", "BUG_NO_BPTT = False", "BUG_NO_BPTT = True"),
    "softmax_axis": ("numpy_transformer.py", "BUG = None", 'BUG = "softmax_axis"'),
    "skip_dropped": ("numpy_transformer.py", "BUG = None", 'BUG = "residual"'),
    "tanh_gelu": ("numpy_transformer.py", "GELU_AS_TANH = False", "GELU_AS_TANH = True"),
}


def cases(name, loss=None, batch=3):
    """The grid's cases of network ``name`` (``mlp:`` an MLP case id's start), both dtypes."""
    if name.startswith("mlp:"):
        return [c for c in default_grid(quick=True) if c.id.startswith(name[4:]) and c.batch == batch]
    return [c for c in default_grid() if isinstance(c.spec, SequenceSpec) and c.spec.name == name
            and c.spec.loss == loss and c.batch == batch]


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    """A driver per correct file and per planted variant."""
    folder, out = tmp_path_factory.mktemp("outside"), {}
    for file in ("minchar_rnn.py", "numpy_transformer.py", "colvec_mlp32.py"):
        out[file] = Driver(registry.load(str(OUTSIDE / file)))
    for plant, (file, right, wrong) in PLANTS.items():
        source = (OUTSIDE / file).read_text()
        assert source.count(right) == 1, right
        (folder / f"{plant}.py").write_text(source.replace(right, wrong))
        out[plant] = Driver(registry.load(str(folder / f"{plant}.py")))
    return out


def failing(outcome):
    return [f"{r.case} {r.check} {r.tensor}: {r.detail}" for r in outcome.rows if r.verdict not in ("pass",)]


@pytest.mark.parametrize("file,network,loss", [
    pytest.param("minchar_rnn.py", "rnn", None, id="the min-char-rnn-style rnn from zeros"),
    pytest.param("minchar_rnn.py", "rnn.h0-flatten-dense", "softmax_cross_entropy",
                 id="the min-char-rnn-style rnn from a given state under softmax cross-entropy"),
    pytest.param("numpy_transformer.py", "attention.causal", None, id="the numpy transformer's causal attention"),
    pytest.param("numpy_transformer.py", BLOCK, None, id="the numpy transformer's two pre-norm blocks"),
    pytest.param("numpy_transformer.py", "dense-gelu_tanh-dense", None, id="the numpy transformer's tanh gelu"),
])
def test_a_correct_outside_network_conforms(drivers, file, network, loss):
    ran = cases(network, loss)
    assert {c.dtype for c in ran} == {"float64", "float32"}
    for case in ran:
        outcome = case_outcome(drivers[file], case)
        assert failing(outcome) == [], outcome.diagnosis.line()


def test_the_column_vector_float32_mlp_conforms_under_its_declared_cost(drivers):
    ran = [c for c in cases("mlp:2layer", batch=4) if c.dtype == "float32" and c.spec.loss in (None, "half_mse")]
    assert {c.spec.loss for c in ran} == {None, "half_mse"}
    for case in ran:
        outcome = case_outcome(drivers["colvec_mlp32.py"], case)
        assert failing(outcome) == [], outcome.diagnosis.line()


@pytest.mark.parametrize("plant,network,words", [
    pytest.param("rnn_no_bptt", "rnn", "layer 0 (rnn): no gradient through time",
                 id="an rnn without the gradient through time is named at its layer"),
    pytest.param("softmax_axis", "attention", "layer 0 (attention): softmax backward summed over the wrong axis",
                 id="attention's softmax backward on the wrong axis is named at its layer"),
    pytest.param("skip_dropped", BLOCK, "layers 0, 1 (residual), each: the skip path's gradient is not added",
                 id="a dropped skip-path gradient in both transformer blocks is named at both"),
])
def test_a_planted_bug_fails_with_its_cause_named(drivers, plant, network, words):
    for case in cases(network):
        outcome = case_outcome(drivers[plant], case)
        assert any(r.check == "gradient" and r.tensor == "input" for r in outcome.rows if r.verdict == "fail")
        assert words in outcome.diagnosis.line(), outcome.diagnosis.line()
        assert all(words in r.diagnosis for r in outcome.rows if r.verdict == "fail")


@pytest.mark.parametrize("plant", [
    pytest.param("softmax_axis", id="the wrong softmax axis inside a block is located in the blocks' span"),
    pytest.param("skip_dropped", id="a dropped skip-path gradient is located in the blocks' span"),
])
def test_a_planted_bug_in_a_transformer_block_fails_at_the_right_layers(drivers, plant):
    for case in cases(BLOCK):
        outcome = case_outcome(drivers[plant], case)
        assert {"input", "0.inner.0.weight"} <= {r.tensor for r in outcome.rows if r.verdict == "fail"}
        span = outcome.diagnosis.span
        assert (span.low, span.high, span.wrong, span.right) == (0, 1, 0, 1), outcome.diagnosis.line()


def test_the_wrong_softmax_axis_inside_a_transformer_block_is_named_at_its_inner_layer(drivers):
    outcome = case_outcome(drivers["softmax_axis"], next(c for c in cases(BLOCK) if c.dtype == "float64"))
    line = outcome.diagnosis.line()
    assert "inner layer 1 (attention): softmax backward summed over the wrong axis" in line, line


def test_gelus_tanh_approximation_for_the_exact_is_named_in_float32(drivers):
    """The conventions' 3e-4 difference is near float32's tolerance, within the diagnosis's slack:
    the one change that reproduces it within the tolerance is named, not the intended network."""
    outcome = case_outcome(drivers["tanh_gelu"], next(c for c in cases("gelu") if c.dtype == "float32"))
    assert "GELU's tanh approximation" in outcome.diagnosis.line(), outcome.diagnosis.line()


@pytest.mark.parametrize("network", [
    pytest.param("gelu", id="alone"), pytest.param("dense-layernorm-gelu-dense", id="between dense layers")])
def test_gelus_tanh_approximation_for_the_exact_is_named_and_consistent_with_its_own_forward(drivers, network):
    for case in cases(network):
        outcome = case_outcome(drivers["tanh_gelu"], case)
        assert {r.check for r in outcome.rows if r.verdict == "fail"} <= {"forward", "gradient"}
        assert [r for r in outcome.rows if r.check.startswith("fd") and r.verdict == "fail"] == []
        if case.dtype == "float64":  # float32 alone: the test above
            assert "GELU's tanh approximation" in outcome.diagnosis.line(), outcome.diagnosis.line()


@pytest.mark.e2e
@pytest.mark.parametrize("target,verdict", [
    pytest.param("minchar_rnn.py", "pass", id="the min-char-rnn-style rnn conforms sandboxed"),
    pytest.param("numpy_transformer.py:TransformerAdapter", "pass",
                 id="the numpy transformer conforms sandboxed, its declared losses met by transformer cases"),
    pytest.param("colvec_mlp32.py", "pass", id="the column-vector float32 mlp conforms sandboxed"),
])
def test_an_outside_network_checked_sandboxed_on_the_quick_grid(target, verdict):
    result = check_target(registry.load(str(OUTSIDE / target)), default_grid(quick=True))
    assert result.ran
    assert [r for r in result.rows if r.verdict == "fail" and r.check != "coverage"] == [], \
        problem_lines(result.rows, 5)
    assert result.verdict == verdict, problem_lines(result.rows, 5)
