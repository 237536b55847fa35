"""The embedding layer kind: its meaning is torch.nn.Embedding; its input is integer token
indices with repeats, which no check differentiates or perturbs; the reference passes every
embedding case of the quick grid (in this process, and once through the sandboxed worker);
a backward that overwrites a repeated token's row instead of adding fails on that row and is
diagnosed by name."""

import numpy as np
import pytest
import torch

from conformance.audit.sequence_mutants import EmbeddingRowsOverwritten, adapter
from conformance.cases import torch_layers
from conformance.cases.embedding import Embedding
from conformance.cases.grid import default_grid
from conformance.cases.layer_data import generate_case
from conformance.cases.layers import Dense, SequenceSpec
from conformance.cases.magnitude import enlarged
from conformance.implementations.reference_embedding import EmbeddingLayer
from conformance.running.driver import Driver
from conformance.running.isolation import WorkerDriver
from conformance.running.reuse import negated_input
from conformance.running.targets import Target, load
from conformance.runner import case_outcome, run_case

QUICK = [c for c in default_grid(quick=True) if isinstance(c.spec, SequenceSpec) and "embedding" in c.spec.kinds]
OVERWRITES = adapter("embedding_rows_overwritten", "rows overwritten", kind="embedding",
                     layer=EmbeddingRowsOverwritten)


def test_the_quick_grid_feeds_embeddings_into_dense_attention_and_recurrent_layers_in_both_dtypes():
    assert {c.dtype for c in QUICK} == {"float64", "float32"}
    following = {c.spec.kinds[1] for c in QUICK if len(c.spec.layers) > 1}
    assert {"dense", "attention", "gru"} <= following


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.id} is torch.nn.Embedding") for c in QUICK
                                  if c.dtype == "float64"])
def test_the_meaning_is_torch_nn_embedding(case):
    layer, data = case.spec.layers[0], generate_case(case)
    module = torch.nn.Embedding(layer.num_embeddings, layer.dim).double()
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(data.params["0.weight"]))
    want = module(torch.as_tensor(data.x)).detach()
    got = torch_layers.apply_layer(layer, torch.as_tensor(data.x), {"weight": torch.as_tensor(data.params["0.weight"])})
    worst = float((want - got).abs().max())
    assert worst == 0, f"output differs from torch.nn.Embedding by {worst}"


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.id} has integer tokens with repeats") for c in QUICK])
def test_the_input_is_token_indices_with_repeats_and_never_differentiated(case):
    data, vocabulary = generate_case(case), case.spec.layers[0].num_embeddings
    assert data.x.dtype == np.int64 and data.x.min() >= 0 and data.x.max() < vocabulary, data.x
    assert all(len(set(sample)) < len(sample) for sample in data.x.tolist()), f"a sample without a repeat: {data.x}"
    assert "input" not in data.tensors()
    assert data.flat().size == sum(t.size for t in data.params.named().values())
    moved = data.with_flat(data.flat() + 0.25)
    assert np.array_equal(moved.x, data.x) and moved.x.dtype == np.int64
    assert data.astype("float32").x.dtype == np.int64


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_reference_passes_every_embedding_case_of_the_quick_grid(dtype):
    driver = Driver(load("reference_numpy"))
    rows = [(c, r) for c in QUICK if c.dtype == dtype for r in run_case(driver, c)]
    assert [f"{c.id}: {r.check} {r.tensor}: {r.message}" for c, r in rows if r.verdict != "pass"] == []
    assert not any(r.tensor == "input" for _, r in rows), "a row judged the integer input's gradient"


def test_a_large_magnitude_embedding_case_scales_the_table_never_the_tokens():
    case = next(c for c in QUICK if c.spec.kinds == ("embedding",))
    data = generate_case(case)
    large = enlarged(data)
    assert np.array_equal(large.x, data.x) and large.x.dtype == np.int64
    assert np.abs(large.params["0.weight"]).max() > 10 * np.abs(data.params["0.weight"]).max()


def test_the_other_input_of_a_repeated_call_keeps_valid_token_indices():
    data = generate_case(next(c for c in QUICK if c.spec.kinds == ("embedding",)))
    other = negated_input(data).x
    assert other.dtype == np.int64 and other.min() >= 0 and not np.array_equal(other, data.x), other


def test_an_embedding_reads_the_networks_input_and_only_a_sequence_of_tokens():
    with pytest.raises(ValueError, match="can only be the first layer"):
        SequenceSpec((4,), (Dense(4, 4), Embedding(6, 4)))
    with pytest.raises(ValueError, match=r"takes \(seq,\) token indices"):
        SequenceSpec((2, 3), (Embedding(6, 4),))


class FancyIndexAdd(EmbeddingLayer):
    """``dW[x] += grad``: NumPy's buffered fancy-index add keeps one position per repeated index."""

    def row_gradients(self, tokens, grad):
        rows = np.zeros_like(self.weight)
        rows[tokens] += grad
        return rows


FANCY_INDEX_ADD = adapter("fancy_index_add", "dW[x] += grad", kind="embedding", layer=FancyIndexAdd)


@pytest.mark.parametrize("mutant", [pytest.param(OVERWRITES, id="dW[token] = grad position by position"),
                                    pytest.param(FANCY_INDEX_ADD, id="dW[x] += grad with NumPy fancy indexing")])
def test_rows_overwritten_for_repeated_tokens_fail_on_the_embedding_weight_with_the_cause_named(mutant):
    case = next(c for c in QUICK if c.spec.kinds == ("embedding", "dense") and c.dtype == "float64")
    outcome = case_outcome(Driver(Target("overwrites", mutant, "test")), case)
    failing = {(r.check, r.tensor) for r in outcome.rows if r.verdict == "fail"}
    assert ("gradient", "0.weight") in failing
    assert not any(tensor.startswith("1.") for _, tensor in failing), failing
    kinds = [f.kind for f in outcome.diagnosis.findings]
    assert kinds == ["embedding_rows_overwritten"], outcome.diagnosis.line()
    assert "layer 0 (embedding)" in outcome.diagnosis.line()


@pytest.mark.e2e
def test_the_sandboxed_worker_carries_the_tokens_and_the_reference_passes_there():
    cases = [c for c in QUICK if c.dtype == "float32"]
    with WorkerDriver(load("reference_numpy")) as driver:
        rows = [(c, r) for c in cases for r in run_case(driver, c)]
    assert [f"{c.id}: {r.check} {r.tensor}: {r.message}" for c, r in rows if r.verdict != "pass"] == []
    assert {c.id for c, r in rows if r.check == "fd_directional"} == {c.id for c in cases}
