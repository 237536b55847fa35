"""Case generation: determinism, kink margins, and the grid's coverage."""

import numpy as np
import pytest

from conformance.spec import (
    ACTIVATIONS, DTYPES, KINK_MARGIN, LOSSES, Case, Layer, NetworkSpec, default_grid, generate, kink_margin,
    random_cases,
)


def arrays(data):
    return [data.x, data.upstream, data.targets, *data.params.weights, *(b for b in data.params.biases if b is not None)]


def test_same_seed_gives_the_same_bytes():
    case = Case(NetworkSpec.mlp([3, 4, 2], "relu"), batch=4, dtype="float32", seed=7)
    first, second = generate(case), generate(case)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(arrays(first), arrays(second)))


def test_different_seeds_give_different_data():
    spec = NetworkSpec.mlp([3, 4, 2], "tanh")
    assert generate(Case(spec, 4, seed=0)).x.tobytes() != generate(Case(spec, 4, seed=1)).x.tobytes()


def test_data_has_the_case_dtype_and_canonical_shapes():
    case = Case(NetworkSpec.mlp([3, 5, 2], "tanh", bias=True), batch=3, dtype="float32")
    data = generate(case)
    assert data.x.shape == (3, 3) and data.x.dtype == np.float32
    assert [w.shape for w in data.params.weights] == [(5, 3), (2, 5)]
    assert [b.shape for b in data.params.biases] == [(5,), (2,)]
    assert data.upstream.shape == (3, 2)


def test_relu_pre_activations_keep_the_margin_from_the_kink():
    for seed in range(20):
        case = Case(NetworkSpec.mlp([3, 4, 4, 4, 2], "relu"), batch=4, seed=seed)
        data = generate(case)
        assert data.kink_margin >= KINK_MARGIN
        assert kink_margin(case.spec, data.params, data.x) == data.kink_margin


def test_labels_are_integers_in_range_for_cross_entropy():
    data = generate(Case(NetworkSpec.mlp([3, 4, 2], "tanh", "identity", loss="softmax_cross_entropy"), 8))
    assert data.targets.dtype.kind == "i" and set(data.targets) <= {0, 1}


def test_default_grid_covers_every_dimension():
    grid = default_grid()
    assert {c.spec.hidden_activation for c in grid} == set(ACTIVATIONS)
    assert {c.spec.bias for c in grid} == {True, False}
    assert {c.spec.depth for c in grid} == {1, 2, 3, 4}
    assert {c.batch for c in grid} == {1, 4}
    assert {c.dtype for c in grid} == set(DTYPES)
    assert {c.spec.loss for c in grid} == {None, *LOSSES}
    assert len({c.id for c in grid}) == len(grid), "case ids must be unique"


def test_case_ids_read_like_sentences():
    case = Case(NetworkSpec.mlp([3, 4, 4, 2], "tanh"), batch=4)
    assert case.id == "3layer-tanh-bias-b4-float64-vjp"
    spec = NetworkSpec.mlp([3, 4, 2], "relu", "identity", bias=False, loss="half_mse")
    assert Case(spec, 1, "float32").id == "2layer-relu-identityout-nobias-b1-float32-half_mse"


@pytest.mark.parametrize("bad", [
    lambda: Layer(3, 0),
    lambda: Layer(3, 2, "softplus"),
    lambda: NetworkSpec((Layer(3, 4), Layer(5, 2))),
    lambda: NetworkSpec((Layer(3, 4),), loss="hinge"),
    lambda: Case(NetworkSpec((Layer(3, 4),)), batch=0),
    lambda: Case(NetworkSpec((Layer(3, 4),)), batch=1, dtype="float16"),
])
def test_invalid_specs_are_refused_with_a_message(bad):
    with pytest.raises(ValueError, match=r"\w"):
        bad()


def test_flat_vector_round_trips_through_with_flat():
    data = generate(Case(NetworkSpec.mlp([3, 4, 2], "tanh", bias=False), batch=2, dtype="float32"))
    theta = data.flat()
    assert theta.dtype == np.float64 and theta.size == 2 * 3 + 4 * 3 + 2 * 4
    again = data.with_flat(theta)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(arrays(data), arrays(again)))
    assert again.x.dtype == np.float32 and again.params.biases == (None, None)


def test_random_cases_are_the_same_for_the_same_seed_and_cover_every_dimension():
    cases = random_cases(400, seed=3)
    assert [(c.id, c.spec, c.seed) for c in cases] == [(c.id, c.spec, c.seed) for c in random_cases(400, seed=3)]
    assert [c.spec for c in cases] != [c.spec for c in random_cases(400, seed=4)]
    assert {c.spec.depth for c in cases} == {1, 2, 3, 4}
    assert {layer.activation for c in cases for layer in c.spec.layers} == set(ACTIVATIONS)
    assert {c.spec.bias for c in cases} == {True, False}
    assert {c.batch == 1 for c in cases} == {True, False}
    assert {c.dtype for c in cases} == set(DTYPES)
    assert {c.spec.loss for c in cases} == {None, *LOSSES}
    assert len({n for c in cases for n in c.spec.sizes}) > 5
    assert len({c.seed for c in cases}) == len(cases), "every case draws its own data"
