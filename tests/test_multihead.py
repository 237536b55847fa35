"""Multi-head self-attention: its meaning is torch.nn.MultiheadAttention (batch_first, self-attention,
the packed in_proj layout, out_proj) with and without a causal mask; the grid has its cases in both
dtypes on the quick grid, alone, in a pre-norm transformer block and after an embedding; the
reference passes them."""

import pytest
import torch

from conformance.cases import torch_layers
from conformance.cases.graph_layers import MultiHeadAttention, kinds_within
from conformance.cases.grid import default_grid
from conformance.cases.layer_data import generate_case
from conformance.cases.layers import SequenceSpec
from conformance.running.driver import Driver
from conformance.running.targets import load
from conformance.runner import run_case

QUICK = [c for c in default_grid(quick=True) if isinstance(c.spec, SequenceSpec)
         and "multihead_attention" in kinds_within(c.spec)]


def test_the_quick_grid_has_multihead_cases_alone_in_a_block_and_after_an_embedding_in_both_dtypes():
    names = {c.spec.name for c in QUICK}
    assert {"mha.h2", "mha.h2.causal"} <= names
    assert any(name.startswith("residual_layernorm_mha") for name in names)
    assert any(name.startswith("embedding-mha") for name in names)
    assert {c.dtype for c in QUICK} == {"float64", "float32"}


def test_parameters_carry_pytorchs_in_proj_names_and_shapes():
    spec = SequenceSpec((3, 6), (MultiHeadAttention(6, 3),))
    module = torch.nn.MultiheadAttention(6, 3, batch_first=True)
    assert spec.param_shapes == {f"0.{name}": tuple(p.shape) for name, p in module.named_parameters()}


def test_heads_must_divide_the_embedding():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        MultiHeadAttention(5, 2)


@pytest.mark.parametrize("causal", [pytest.param(False, id="plain"), pytest.param(True, id="causal")])
def test_the_meaning_is_torch_nn_multiheadattention_as_self_attention(causal):
    case = next(c for c in QUICK if c.spec.kinds == ("multihead_attention",) and c.spec.layers[0].causal == causal
                and c.dtype == "float64")
    layer, data = case.spec.layers[0], generate_case(case)
    module = torch.nn.MultiheadAttention(layer.embed_dim, layer.num_heads, batch_first=True).double()
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.copy_(torch.as_tensor(data.params[f"0.{name}"]))
    x = torch.as_tensor(data.x)
    seq = x.shape[1]
    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1) if causal else None
    expected, _ = module(x, x, x, need_weights=False, attn_mask=mask, is_causal=causal)
    params = {k[2:]: torch.as_tensor(v) for k, v in data.params.tensors.items()}
    got = torch_layers.multi_head(layer, x, params)
    worst = float((expected - got).detach().abs().max())
    assert worst <= 1e-12, f"output differs from torch.nn.MultiheadAttention by {worst} (causal={causal})"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_reference_passes_every_multihead_case_of_the_quick_grid(dtype):
    driver = Driver(load("reference_numpy"))
    bad = [f"{c.id}: {r.check} {r.tensor}: {r.message}" for c in QUICK if c.dtype == dtype
           for r in run_case(driver, c) if r.verdict != "pass"]
    assert bad == []
