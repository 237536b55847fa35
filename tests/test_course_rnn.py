"""The course-style recurrent example (``rnn_step_forward/backward``, ``lstm_…``,
``word_embedding_…`` with caches, in the course's layout) conforms on every case it
supports, and the classic bug planted in its rnn_backward or lstm_backward, the hidden
state's gradient not carried back to the step before, fails with that cause named."""

import pytest

from conformance.cases.grid import default_grid
from conformance.cases.layers import SequenceSpec
from conformance.check import check_target
from conformance.examples import course_rnn
from conformance.reporting.verdicts import problem_lines
from conformance.running import targets as registry
from conformance.running.driver import Driver
from conformance.running.targets import Target
from conformance.runner import case_outcome, run_case
from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "course_rnn.py"


def supported(cases):
    adapter = course_rnn.CourseRNNAdapter()
    return [c for c in cases if isinstance(c.spec, SequenceSpec) and adapter.supports(c.spec, c.batch, c.dtype) is None]


def test_the_example_passes_every_case_it_supports_at_batch_two():
    cases = [c for c in supported(default_grid()) if c.batch == 2]
    driver = Driver(Target("course_rnn", course_rnn.CourseRNNAdapter, "test"))
    rows = [r for c in cases for r in run_case(driver, c)]
    assert {"rnn", "lstm", "embedding"} <= {kind for c in cases for kind in c.spec.kinds}
    assert {c.dtype for c in cases} == {"float64", "float32"} and any(c.spec.loss for c in cases)
    assert [f"{r.case}: {r.message}" for r in rows if r.verdict != "pass"] == []


#: The classic bug, planted: the step's own output gradient only, what the later steps send back dropped.
PLANTED = {
    "rnn": ("rnn_step_backward(dh[:, t] + dprev_h, cache[t])", "rnn_step_backward(dh[:, t], cache[t])",
            "no_gradient_through_time", "no gradient through time"),
    "lstm": ("lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])",
             "lstm_step_backward(dh[:, t], dprev_c, cache[t])", "no_gradient_through_hidden_state",
             "drops the hidden state's gradient between steps"),
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The example with the bug planted in its rnn_backward or lstm_backward, by kind."""
    source, drivers = EXAMPLE.read_text(), {}
    for kind, (right, wrong, _, _) in PLANTED.items():
        assert source.count(right) == 1, right
        buggy = tmp_path_factory.mktemp("course_rnn") / f"course_rnn_{kind}_no_bptt.py"
        buggy.write_text(source.replace(right, wrong))
        drivers[kind] = Driver(registry.load(str(buggy)))
    return drivers


@pytest.mark.parametrize("network,loss", [
    pytest.param("rnn.h0", None, id="an rnn from a given state"),
    pytest.param("rnn.h0-flatten-dense", "softmax_cross_entropy", id="an rnn under softmax cross-entropy"),
    pytest.param("lstm", None, id="an lstm from zeros"),
    pytest.param("lstm.h0-flatten-dense", "softmax_cross_entropy", id="an lstm under softmax cross-entropy"),
])
def test_the_hidden_state_gradient_not_carried_back_fails_with_the_cause_named(planted, network, loss):
    case = next(c for c in default_grid() if isinstance(c.spec, SequenceSpec) and c.spec.name == network
                and c.spec.loss == loss and c.dtype == "float64")
    kind = case.spec.kinds[0]
    outcome = case_outcome(planted[kind], case)
    failing = {r.tensor for r in outcome.rows if r.check == "gradient" and r.verdict == "fail"}
    assert {"input", "0.weight_ih_l0", "0.weight_hh_l0"} <= failing
    finding, words = PLANTED[kind][2:]
    assert [f.kind for f in outcome.diagnosis.findings] == [finding], outcome.diagnosis.line()
    assert words in next(r.diagnosis for r in outcome.rows if r.verdict == "fail")


def test_the_examples_copy_in_the_repository_is_the_shipped_one():
    assert EXAMPLE.read_text() == (ROOT / "conformance" / "examples" / "course_rnn.py").read_text()


@pytest.mark.e2e
def test_the_example_conforms_sandboxed_on_the_quick_grid():
    cases = supported(default_grid(quick=True))
    result = check_target(registry.load(str(EXAMPLE)), cases)
    assert result.verdict == "pass", problem_lines(result.rows, 5)
    assert len({r.case for r in result.ran}) == len(cases)
