"""What a residual block holds beyond its own output: the L2 penalty covers the dense weights
inside it (as PyTorch's sum over every nn.Linear's weight would), a dropout inside it gets its
keep-mask as a buffer by its nested name, and the reference passes the grid's cases of both."""

import numpy as np
import pytest
import torch

from conformance.cases.graph_layers import Residual, layer_named
from conformance.cases.grid import default_grid
from conformance.cases.layer_data import generate_case
from conformance.cases.layer_grid import residual_inside_networks
from conformance.cases.layers import Conv2d, Dense, Dropout, SequenceSpec
from conformance.cases.spec import Case
from conformance.cases.torch_layers import forward
from conformance.running.driver import Driver
from conformance.running.targets import load
from conformance.runner import run_case

RESIDUAL = [s for s in dict.fromkeys(c.spec for c in default_grid(quick=True))
            if isinstance(s, SequenceSpec) and any(isinstance(layer, Residual) for layer in s.layers)]


def _weights_of_every_linear(spec: SequenceSpec) -> list[str]:
    """The weights a PyTorch module of the same layers would hold in its nn.Linear and nn.Conv2d."""
    return [name for name in spec.param_shapes
            if name.endswith(".weight") and isinstance(layer_named(spec, name), (Dense, Conv2d))]


@pytest.mark.parametrize("spec", [pytest.param(s, id=f"{s.name} penalises every dense weight, inner ones too")
                                  for s in RESIDUAL])
def test_the_penalty_covers_every_dense_weight_inside_a_residual_block(spec):
    wanted = _weights_of_every_linear(spec)
    assert any(".inner." in name for name in wanted), f"{spec.name} has no dense weight inside a block"
    assert list(spec.penalised()) == wanted


def test_the_grid_has_a_penalised_residual_case_and_a_dropout_inside_a_residual_block():
    assert any(s.l2 and any(".inner." in n for n in s.penalised()) for s in RESIDUAL)
    assert any(name.startswith("1.inner.") and name.endswith(".mask")
               for s in RESIDUAL for name in s.buffer_shapes(2))


def test_a_dropout_inside_a_residual_block_gets_its_keep_mask_and_the_oracle_applies_it():
    spec = next(s for s in residual_inside_networks() if any(isinstance(layer, Dropout) for layer in s.layers[1].inner))
    data = generate_case(Case(spec, 3, "float64"))
    (name,) = data.params.buffers
    mask = data.params.buffers[name]
    assert name == "1.inner.2.mask" and mask.shape == (3, 5) and 0 < mask.mean() < 1
    tensors = {k: torch.as_tensor(v) for k, v in data.params.tensors.items()}
    masked = forward(spec, torch.as_tensor(data.x), tensors | {name: torch.as_tensor(mask)})
    kept = forward(spec, torch.as_tensor(data.x), tensors | {name: torch.ones(mask.shape, dtype=torch.float64)})
    assert not np.allclose(masked.numpy(), kept.numpy()), "the keep-mask changes nothing: the oracle ignores it"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_reference_passes_the_residual_cases_with_a_penalty_and_a_dropout_inside(dtype):
    driver = Driver(load("reference_numpy"))
    specs = residual_inside_networks()
    cases = [c for c in default_grid(quick=True) if c.spec in specs and c.dtype == dtype]
    assert {c.spec for c in cases} == set(specs)
    bad = [f"{c.id}: {r.check} {r.tensor}: {r.message}" for c in cases for r in run_case(driver, c)
           if r.verdict != "pass"]
    assert bad == []
