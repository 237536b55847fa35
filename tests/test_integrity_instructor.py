"""Which cases count is decided by the assignment alone: a notebook that rewrites the
instructor's adapter inside its own worker cannot choose its cases, its capabilities
or its name, and its honest neighbours' rows are those of a run without it."""

from __future__ import annotations

import pytest

from conformance.cases.grid import default_grid
from conformance.contract.adapter import Capabilities
from conformance.grading import instructor
from conformance.grading.assignment import AssignmentError, read_settings
from conformance.running.driver import ImplementationFault
from conformance.running.planned import NOT_PLANNED, Plan, PlannedDriver
from tests.integrity_grading import ASSIGNMENT, HONEST, grade_class, honest_class, notebook_with, pinned

#: A cell that wraps the loader: the instructor's supports() then offers batch-1 cases only,
#: where averaging the bias gradient over the batch changes nothing.
WRAPS_THE_LOADER = '''
import conformance.running.loading as _loading
_original = _loading.adapter_class
def _batch_one_only(*args, **kwargs):
    cls = _original(*args, **kwargs)
    honest = cls.supports
    cls.supports = lambda self, spec, batch, dtype: "batch 1 only" if batch != 1 else honest(self, spec, batch, dtype)
    return cls
_loading.adapter_class = _batch_one_only
# The assignment is loaded before the notebook runs: its class is patched where it already is.
import sys as _sys
from conformance import Adapter as _Adapter
for _module in [m for m in list(_sys.modules.values()) if getattr(m, "__name__", "").startswith("submission_")]:
    for _value in list(vars(_module).values()):
        if isinstance(_value, type) and issubclass(_value, _Adapter) and _value.__module__ == _module.__name__:
            _honest_supports = _value.supports
            _value.supports = (lambda honest: lambda self, spec, batch, dtype:
                               "batch 1 only" if batch != 1 else honest(self, spec, batch, dtype))(_honest_supports)
'''

#: A cell that rewrites the adapter's capabilities (no loss cases) and its name once it is loaded.
REWRITES_CAPABILITIES = '''
import conformance.running.loading as _loading
from conformance import Capabilities as _Capabilities
_original = _loading.adapter_class
def _narrowed(*args, **kwargs):
    cls = _original(*args, **kwargs)
    cls.capabilities = _Capabilities(activations=frozenset({"sigmoid"}), output_activations=frozenset({"identity"}),
                                     bias=frozenset({True}), max_batch=1)
    cls.name = "teacher's pet"
    return cls
_loading.adapter_class = _narrowed
'''

ATTACKS = {
    "wraps_the_loader": WRAPS_THE_LOADER,
    "rewrites_capabilities": REWRITES_CAPABILITIES,
}


@pytest.fixture(scope="module")
def without_attackers():
    return honest_class()


@pytest.fixture(scope="module")
def with_attackers(tmp_path_factory):
    extra = {name: notebook_with("bias_mean", [cell]) for name, cell in ATTACKS.items()}
    return grade_class(tmp_path_factory.mktemp("attacked"), extra)


# ---- the plan, without a worker ------------------------------------------------------------

class _Recording:
    """An inner driver that records what it is asked."""

    name = "student"

    def __init__(self):
        self.asked = []

    def __getattr__(self, method):
        return lambda *args: self.asked.append(method) or {"name": "forged", "description": "", "notes": ("n",),
                                                           "capabilities": Capabilities(), "class": "X"}


def test_a_planned_driver_never_asks_the_student_which_cases_apply():
    plan = Plan("sheet4", "", Capabilities(losses=frozenset({"half_mse"})), (("a", None), ("b", "no tanh")))
    inner = _Recording()
    driver = PlannedDriver(inner, plan)
    def case(case_id):
        return type("C", (), {"id": case_id})()
    answers = [driver.supports(case("a")), driver.supports(case("b")), driver.supports(case("zzz"))]
    described = driver.describe()
    assert answers == [None, "no tanh", NOT_PLANNED]
    assert "supports" not in inner.asked and driver.capabilities == plan.capabilities
    assert described["name"] == "sheet4" and described["capabilities"] == plan.capabilities
    assert described["notes"] == ("n",)  # what the student's own notebook did stays theirs to read


# ---- the plan, from the assignment alone -----------------------------------------------------

@pytest.mark.e2e
def test_the_assignment_alone_decides_the_cases_of_the_grid():
    settings = read_settings(ASSIGNMENT)
    cases = default_grid(seed=0)
    plan = instructor.decide(settings, cases)
    from conformance.examples.assignment_004.assignment import Sheet4

    expected = [case.id for case in cases if Sheet4().supports(case.spec, case.batch, case.dtype) is None]
    assert plan.applicable() == expected and plan.name == Sheet4.name
    assert plan.capabilities == Sheet4.capabilities


@pytest.mark.e2e
def test_supports_reaching_for_the_submission_is_the_instructors_one_line_error(tmp_path):
    body = "    def supports(self, spec, batch, dtype):\n        return self.submission.anything\n"
    with pytest.raises(AssignmentError, match="cannot decide which cases apply.*'NoneType'"):
        instructor.decide(read_settings(_assignment_with(tmp_path, body)), pinned(0))


@pytest.mark.e2e
def test_an_assignment_whose_own_adapter_cannot_meet_require_is_said_once(tmp_path):
    body = "    def supports(self, spec, batch, dtype):\n        return 'never'\n"
    settings = read_settings(_assignment_with(tmp_path, body))
    said = instructor.shortfall(settings, instructor.decide(settings, pinned(0)), pinned(0))
    assert "cannot meet its REQUIRE" in said and "every submission will be incomplete" in said
    honest = read_settings(ASSIGNMENT)
    assert instructor.shortfall(honest, instructor.decide(honest, pinned(0)), pinned(0)) is None


def _assignment_with(folder, body: str):
    """The worked example's assignment with ``body`` added to its adapter class."""
    source = ASSIGNMENT.read_text(encoding="utf-8").replace("    def build(self, spec, params):",
                                                            body + "\n    def build(self, spec, params):", 1)
    path = folder / "assignment.py"
    path.write_text(source, encoding="utf-8")
    return path


# ---- a class with attackers ------------------------------------------------------------------

@pytest.mark.e2e
def test_the_attack_is_real_when_the_students_worker_is_asked(tmp_path):
    """The control: asked directly, the attacker's worker declines the batch-4 cases."""
    from conformance.running.isolation import WorkerDriver
    from conformance.running.targets import submissions
    import nbformat

    path = tmp_path / "wraps_the_loader.ipynb"
    nbformat.write(notebook_with("bias_mean", [WRAPS_THE_LOADER]), str(path))
    [target] = submissions(ASSIGNMENT, [str(path)], read_settings(ASSIGNMENT).api)
    with WorkerDriver(target) as driver:
        answers = {case.batch: driver.supports(case) for case in pinned(0) if "sigmoid" in case.id}
    assert answers == {1: None, 4: "batch 1 only"}


@pytest.mark.e2e
def test_the_honest_rows_are_the_same_as_without_the_attackers(without_attackers, with_attackers):
    for student in HONEST:
        assert (with_attackers.rows(student).equals(without_attackers.rows(student))), student
    table, alone = with_attackers.targets(), without_attackers.targets()
    for column in ("verdict", "score", "max score", "cases run"):
        assert list(table.loc[list(HONEST), column]) == list(alone.loc[list(HONEST), column]), column


@pytest.mark.e2e
@pytest.mark.parametrize("attacker", [
    pytest.param("wraps_the_loader", id="a notebook offering batch-1 cases only is graded on every case that counts"),
    pytest.param("rewrites_capabilities", id="a notebook rewriting the capabilities and name changes neither"),
])
def test_an_attacker_is_graded_as_the_bug_it_hides(with_attackers, attacker):
    table = with_attackers.targets()
    assert table.loc[attacker, "score"] == table.loc["bias_mean", "score"] < table.loc["correct", "score"]
    assert table.loc[attacker, "implementation"] == table.loc["bias_mean", "implementation"]
    assert with_attackers.rows(attacker).equals(with_attackers.rows("bias_mean"))


def test_a_reply_of_the_wrong_length_is_refused():
    from conformance.running import isolation

    driver = isolation.WorkerDriver.__new__(isolation.WorkerDriver)
    driver._call = lambda *args: {"reasons": [None]}
    with pytest.raises(ImplementationFault, match="2 reasons"):
        driver.supports_each(pinned(0)[:2])
