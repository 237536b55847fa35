"""The course-style recurrent example (``rnn_step_forward/backward``, ``lstm_…``,
``word_embedding_…`` with caches, in the course's layout) conforms on every case it
supports, and the classic bug planted in it, the hidden state's gradient not carried back
to the step before, fails with that cause named."""

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
CARRIED = "rnn_step_backward(dh[:, t] + dprev_h, cache[t])"


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


@pytest.fixture(scope="module")
def without_bptt(tmp_path_factory):
    source = EXAMPLE.read_text()
    assert source.count(CARRIED) == 1
    buggy = tmp_path_factory.mktemp("course_rnn") / "course_rnn_no_bptt.py"
    buggy.write_text(source.replace(CARRIED, "rnn_step_backward(dh[:, t], cache[t])"))
    return Driver(registry.load(str(buggy)))


@pytest.mark.parametrize("network,loss", [pytest.param("rnn.h0", None, id="an rnn from a given state"),
                                          pytest.param("rnn.h0-flatten-dense", "softmax_cross_entropy",
                                                       id="an rnn under softmax cross-entropy")])
def test_the_hidden_state_gradient_not_carried_back_fails_with_the_cause_named(without_bptt, network, loss):
    case = next(c for c in default_grid() if isinstance(c.spec, SequenceSpec) and c.spec.name == network
                and c.spec.loss == loss and c.dtype == "float64")
    outcome = case_outcome(without_bptt, case)
    failing = {r.tensor for r in outcome.rows if r.check == "gradient" and r.verdict == "fail"}
    assert {"input", "0.weight_ih_l0", "0.weight_hh_l0"} <= failing
    assert [f.kind for f in outcome.diagnosis.findings] == ["no_gradient_through_time"], outcome.diagnosis.line()
    assert "no gradient through time" in next(r.diagnosis for r in outcome.rows if r.verdict == "fail")


def test_the_examples_copy_in_the_repository_is_the_shipped_one():
    assert EXAMPLE.read_text() == (ROOT / "conformance" / "examples" / "course_rnn.py").read_text()


@pytest.mark.e2e
def test_the_example_conforms_sandboxed_on_the_quick_grid():
    cases = supported(default_grid(quick=True))
    result = check_target(registry.load(str(EXAMPLE)), cases)
    assert result.verdict == "pass", problem_lines(result.rows, 5)
    assert len({r.case for r in result.ran}) == len(cases)
