"""Case generation: determinism, kink margins, and the grid's coverage."""

import re

import numpy as np
import pytest

from conformance.contract import profiles
from conformance.cases.spec import ACTIVATIONS, Case, DTYPES, KINK_MARGIN, LOSSES, Layer, NetworkSpec
from conformance.cases.mlp_data import generate, kink_margin, preactivations
from conformance.cases.grid import (BATCHES, SHAPES, GridChoice, default_grid, grid, network_kinds, random_cases,
                                    smoke_grid)


def arrays(data):
    biases = [b for b in data.params.biases if b is not None]
    return [data.x, data.upstream, data.targets, *data.params.weights, *biases]


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
    grid = [c for c in default_grid() if isinstance(c.spec, NetworkSpec)]  # the MLPs; layer networks: test_layers
    assert {c.spec.hidden_activation for c in grid} == set(ACTIVATIONS)
    assert {c.spec.bias for c in grid} == {True, False}
    assert {c.spec.depth for c in grid} == {1, 2, 3, 4}
    assert {c.batch for c in grid} == {1, 4}
    assert {c.dtype for c in grid} == set(DTYPES)
    assert {c.spec.loss for c in grid} == {None, *LOSSES}
    assert len({c.id for c in grid}) == len(grid), "case ids must be unique"


@pytest.mark.parametrize("quick", [False, True])
def test_output_widths_include_one_and_three_or_more_in_every_mode(quick):
    grid = default_grid(quick=quick)
    for mode in ("vjp", *LOSSES):
        widths = {c.spec.sizes[-1] for c in grid if c.mode == mode}
        assert {3, 5} <= widths, mode
        if mode != "softmax_cross_entropy":  # softmax over one output is constant: never asked
            assert 1 in widths, mode
    assert not any(c.spec.sizes[-1] == 1 for c in grid if c.mode == "softmax_cross_entropy")


def test_the_quick_grid_is_part_of_the_full_one_and_has_deep_equal_width_networks():
    full, quick = {c.id for c in default_grid()}, default_grid(quick=True)
    assert {c.id for c in quick} <= full and len(quick) < len(full) / 3
    for activation in ACTIVATIONS:  # an index-one-off derivative mask is silent on these
        equal_hidden = [c for c in quick if c.spec.depth == 3 and c.spec.hidden_activation == activation
                        and c.spec.sizes[1] == c.spec.sizes[2]]
        assert equal_hidden, activation


@pytest.mark.parametrize("quick, minimum", [
    pytest.param(False, profiles.FULL_MINIMUM, id="the whole grid", marks=pytest.mark.e2e),
    pytest.param(True, profiles.QUICK_MINIMUM, id="the quick grid"),
])
def test_every_capability_profile_meets_its_minimum_of_cases(quick, minimum):
    counts = profiles.counts(default_grid(quick=quick))
    assert len(counts) == len(profiles.profiles()) > 200
    short = {label: n for label, n in counts.items() if n < minimum}
    assert not short, short


def test_the_common_exercise_shape_meets_many_cases():
    """relu/tanh/sigmoid hidden layers, identity output, biases, float64, VJP: 20 of 1102 cases before."""
    assert profiles.EXERCISE.meets(default_grid()) >= 150
    assert profiles.EXERCISE.meets(default_grid(quick=True)) >= 40


def test_a_profile_counts_what_an_adapter_declaring_it_runs():
    cases = default_grid(quick=True)
    caps = profiles.Capabilities(activations=frozenset({"tanh"}), output_activations=frozenset({"identity"}),
                                 bias=frozenset({False}), losses=frozenset(), max_batch=1)
    ran = [c for c in cases if caps.why_not(c.spec, c.batch, c.dtype) is None]
    assert profiles.Profile("x", caps).meets(cases) == len(ran) > 0
    assert all(c.batch == 1 and not c.spec.bias and c.mode == "vjp" and c.spec.output_activation == "identity"
               for c in ran)


def test_case_ids_read_like_sentences():
    case = Case(NetworkSpec.mlp([3, 4, 4, 2], "tanh"), batch=4)
    assert case.id == "3layer-3.4.4.2-tanh-bias-b4-float64-vjp"
    spec = NetworkSpec.mlp([3, 4, 1], "relu", "identity", bias=False, loss="half_mse")
    assert Case(spec, 1, "float32").id == "2layer-3.4.1-relu-identityout-nobias-b1-float32-half_mse"


def test_a_grid_choice_narrows_the_grid():
    choice = GridChoice(depths=(2,), dtypes=("float32",), modes=("vjp", "mse"), activations=("tanh",))
    cases = grid(choice)
    assert cases and {c.id for c in cases} <= {c.id for c in default_grid()}
    assert {c.spec.depth for c in cases} == {2} and {c.dtype for c in cases} == {"float32"}
    assert {c.mode for c in cases} == {"vjp", "mse"} and {c.spec.hidden_activation for c in cases} == {"tanh"}


def test_a_grid_choice_replaces_widths_and_batches():
    cases = grid(GridChoice(widths=((2, 6, 6, 3),), batches=(7,)))
    assert {c.spec.sizes for c in cases} == {(2, 6, 6, 3)} and {c.batch for c in cases} == {7}
    assert {c.mode for c in cases} == {"vjp", *LOSSES}
    assert {(c.spec.hidden_activation, c.spec.output_activation, c.spec.bias) for c in cases} == set(network_kinds())


@pytest.mark.parametrize("field, value, message", [
    ("dtypes", ("float16",), "unknown dtype 'float16'; known: float64, float32"),
    ("modes", ("svm",), "unknown mode 'svm'; known: vjp, sse"),
    ("activations", ("gelu",), "unknown activation 'gelu'; known: identity, relu"),
    ("batches", (0,), "batches must be positive"),
    ("widths", ((3,),), "at least two positive numbers"),
])
def test_a_grid_choice_refuses_unknown_values(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        GridChoice(**{field: value})


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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["identity", "relu"])
def test_wide_relu_networks_keep_the_margin_and_a_live_unit_in_every_row(dtype, output):
    # 2 x 60 ReLU units per row: a random row keeps the margin about once in 60 draws, so
    # these networks move weights off the kinks instead of redrawing rows.
    case = Case(NetworkSpec.mlp([30, 60, 60, 4], "relu", output), batch=16, dtype=dtype, seed=3)
    data = generate(case)
    assert data.kink_margin >= KINK_MARGIN
    assert kink_margin(case.spec, data.params, data.x) == data.kink_margin
    zs = preactivations(case.spec, data.params, data.x)
    relu_layers = [z for layer, z in zip(case.spec.layers, zs) if layer.activation == "relu"]
    assert all((z > 0).any(axis=1).all() for z in relu_layers)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(arrays(data), arrays(generate(case))))


def test_a_batch_larger_than_a_layer_can_separate_records_the_margin_it_kept():
    case = Case(NetworkSpec.mlp([3, 40, 40, 2], "relu"), batch=64, seed=1)
    data = generate(case)
    assert 0 < data.kink_margin == kink_margin(case.spec, data.params, data.x)


def test_the_smoke_grid_is_part_of_the_quick_one_and_keeps_every_kind_mode_depth_and_layer():
    quick, smoke = default_grid(quick=True), smoke_grid()
    assert {c.id for c in smoke} <= {c.id for c in quick} and len(smoke) < len(quick) / 2
    def mlp(cases):
        return {(c.spec.hidden_activation, c.spec.output_activation, c.spec.bias, c.mode)
                for c in cases if isinstance(c.spec, NetworkSpec)}

    def kinds(cases):
        return {layer.kind for c in cases if not isinstance(c.spec, NetworkSpec) for layer in c.spec.layers}

    assert mlp(smoke) == mlp(quick)
    assert {c.spec.depth for c in smoke if isinstance(c.spec, NetworkSpec)} == set(SHAPES)
    assert {(c.batch, c.dtype) for c in smoke if isinstance(c.spec, NetworkSpec)} == \
        {(b, d) for b in BATCHES for d in DTYPES}
    assert kinds(smoke) == kinds(quick)


def test_a_network_of_several_hidden_activations_is_named_in_the_layers_order():
    sizes, activations = (3, 4, 5, 4, 2), ("tanh", "sigmoid", "relu", "sigmoid")
    spec = NetworkSpec(tuple(Layer(n_in, n_out, a) for n_in, n_out, a in zip(sizes, sizes[1:], activations)))
    assert spec.activation_label == "tanh+sigmoid+relu-sigmoidout"
