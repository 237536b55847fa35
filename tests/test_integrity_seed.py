"""Cases a student cannot know: ``grade`` draws its seed at random, says which in its output,
the report and every feedback file, and ``--seed`` reproduces the run; a notebook that
answers from a table built with the suite's oracle at the public seed passes only there.
``check`` keeps seed 0."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from conformance.cases.mlp_data import generate
from conformance.grading import seeds
from tests.integrity_grading import HONEST, grade_class, notebook_with, pinned


def _table_cell(seed: int) -> str:
    """A cell answering backward() from PyTorch's gradients of the pinned cases at ``seed``
    (and of their batch reversed, as the contract's reuse check asks), keyed by the input's
    bytes, and falling back to the notebook's own backward elsewhere."""
    from conformance.oracles.torch import reference

    def key(x):
        return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float64).tobytes()).hexdigest()

    table = {}
    for case in pinned(seed):
        data = generate(case)
        grads = reference(data).gradients
        weights = [np.asarray(w).T.tolist() for w in grads.weights]
        biases = [np.asarray(b).reshape(1, -1).tolist() for b in grads.biases]
        table[key(data.x)] = (np.asarray(grads.input).tolist(), weights, biases)
        table[key(data.x[::-1])] = (np.asarray(grads.input)[::-1].tolist(), weights, biases)
    return f'''
import hashlib
_TABLE = {table!r}
_own = NeuralNetwork.backward
def _looked_up(self, x, grad=None):
    key = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float64).tobytes()).hexdigest()
    if key not in _TABLE:
        return _own(self, x, grad)
    gx, Ws, bs = _TABLE[key]
    return np.array(gx), [np.array(w) for w in Ws], [np.array(b) for b in bs]
NeuralNetwork.backward = _looked_up
'''


@pytest.fixture(scope="module")
def attacker():
    return {"looks_up": notebook_with("bias_mean", [_table_cell(0)])}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, attacker):
    """The class with the attacker, graded as ``grade`` does by default."""
    return grade_class(tmp_path_factory.mktemp("drawn"), attacker, seed=None)


@pytest.fixture(scope="module")
def drawn_seed(drawn) -> int:
    return json.loads((drawn.out / "environment.json").read_text())["seed"]


# ---- choosing and recording -------------------------------------------------------------------

def test_a_seed_is_drawn_at_random_unless_given(tmp_path):
    drawn = {seeds.choose(None, tmp_path, resume=False).value for _ in range(8)}
    assert len(drawn) > 1 and all(0 <= s < seeds.LIMIT for s in drawn)
    assert seeds.choose(7, tmp_path, resume=False) == seeds.Seed(7, "given")


def test_resume_continues_with_the_recorded_seed_unless_another_is_given(tmp_path):
    seeds.record(tmp_path, seeds.Seed(123456, "drawn"))
    assert seeds.choose(None, tmp_path, resume=True) == seeds.Seed(123456, "resumed")
    assert seeds.choose(5, tmp_path, resume=True) == seeds.Seed(5, "given")
    assert seeds.choose(None, tmp_path, resume=False).origin == "drawn"
    (tmp_path / seeds.FILE).write_text("not a seed")
    assert seeds.choose(None, tmp_path, resume=True).origin == "drawn"


def test_grade_draws_its_seed_and_check_keeps_seed_0():
    from conformance.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["grade", "a.py", "s.ipynb"]).seed is None
    assert parser.parse_args(["check", "a.py"]).seed == 0
    assert parser.parse_args(["grade", "a.py", "s.ipynb", "--seed", "42"]).seed == 42


# ---- a class graded with a drawn seed -------------------------------------------------------------

@pytest.mark.e2e
def test_the_seed_is_said_in_the_output_the_report_and_every_feedback_file(drawn, drawn_seed):
    assert f"seed: {drawn_seed} (drawn at random; --seed {drawn_seed} reproduces these cases)" in drawn.stdout
    assert set(pd.read_csv(drawn.out / "results.csv")["seed"]) == {drawn_seed}
    assert f"seed {drawn_seed}" in (drawn.out / "summary.md").read_text()
    for student in (*HONEST, "looks_up"):
        assert f"**Seed:** {drawn_seed} " in drawn.feedback(student)
    assert seeds.recorded(drawn.out) == drawn_seed


@pytest.mark.e2e
def test_a_table_built_at_the_public_seed_passes_there(tmp_path, attacker):
    """The control: at seed 0 the table answers every case, and the bug it hides goes unseen."""
    graded = grade_class(tmp_path, attacker, seed=0)
    table = graded.targets()
    assert table.loc["looks_up", "score"] == table.loc["correct", "score"] > table.loc["bias_mean", "score"]


@pytest.mark.e2e
def test_at_a_drawn_seed_the_table_answers_nothing_and_the_bug_shows(drawn, drawn_seed):
    assert drawn_seed != 0
    table = drawn.targets()
    assert table.loc["looks_up", "score"] == table.loc["bias_mean", "score"] < table.loc["correct", "score"]
    assert drawn.rows("looks_up").equals(drawn.rows("bias_mean"))


@pytest.mark.e2e
def test_the_seed_reproduces_the_run_and_the_honest_rows_are_those_without_the_attacker(
        tmp_path, drawn, drawn_seed):
    again = grade_class(tmp_path, seed=drawn_seed)
    assert f"seed: {drawn_seed} (given with --seed" in again.stdout
    for student in HONEST:
        assert again.rows(student).equals(drawn.rows(student)), student
