"""Recurrent layer kinds (rnn, lstm, gru): their meaning is torch.nn.RNN/LSTM/GRU with
batch_first=True, one layer, PyTorch's parameter names and gate order; the grid has cases of
each kind in both dtypes on the quick grid; the reference passes them; a backward that does
not carry the hidden state's gradient back through time fails on the input's earlier steps."""

import numpy as np
import pytest
import torch

from conformance.cases import torch_layers
from conformance.cases.grid import default_grid
from conformance.cases.layer_data import generate_case
from conformance.cases.layers import SequenceSpec
from conformance.cases.recurrent import LSTM, RECURRENT_KINDS
from conformance.implementations.reference_numpy import ReferenceNumpy
from conformance.implementations.reference_recurrent import RecurrentLayer
from conformance.running.driver import Driver
from conformance.running.targets import Target, load
from conformance.runner import run_case

QUICK = [c for c in default_grid(quick=True) if isinstance(c.spec, SequenceSpec)
         and set(c.spec.kinds) & set(RECURRENT_KINDS)]
MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def test_the_quick_grid_has_cases_of_every_recurrent_kind_in_both_dtypes():
    for kind in RECURRENT_KINDS:
        dtypes = {c.dtype for c in QUICK if kind in c.spec.kinds}
        assert dtypes == {"float64", "float32"}, kind


def test_parameters_carry_pytorchs_names_and_shapes():
    spec = SequenceSpec((3, 3), (LSTM(3, 2, initial_state=True),))
    assert spec.param_shapes == {"0.weight_ih_l0": (8, 3), "0.weight_hh_l0": (8, 2), "0.bias_ih_l0": (8,),
                                 "0.bias_hh_l0": (8,)}
    assert spec.buffer_shapes(5) == {"0.h0": (5, 2), "0.c0": (5, 2)}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in QUICK
                                  if len(c.spec.layers) == 1 and c.dtype == "float64"])
def test_the_meaning_is_torch_nn_recurrent_modules_with_batch_first(case):
    layer, data = case.spec.layers[0], generate_case(case)
    module = MODULES[layer.kind](layer.input_size, layer.hidden_size, batch_first=True).double()
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.copy_(torch.as_tensor(data.params[f"0.{name}"]))
    buffers = {k[2:]: torch.as_tensor(v) for k, v in data.params.buffers.items()}
    state = None
    if "h0" in buffers:
        state = (buffers["h0"][None], buffers["c0"][None]) if layer.kind == "lstm" else buffers["h0"][None]
    expected, _ = module(torch.as_tensor(data.x), state)
    params = {k[2:]: torch.as_tensor(v) for k, v in data.params.tensors.items()} | buffers
    got = torch_layers.unrolled(layer, torch.as_tensor(data.x), params)
    worst = float((expected - got).detach().abs().max())
    assert worst <= 1e-12, f"output differs from torch.nn.{layer.kind.upper()} by {worst}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_reference_passes_every_recurrent_case_of_the_quick_grid(dtype):
    driver = Driver(load("reference_numpy"))
    bad = [f"{c.id}: {r.check} {r.tensor}: {r.message}" for c in QUICK if c.dtype == dtype
           for r in run_case(driver, c) if r.verdict != "pass"]
    assert bad == []


class NoGradientThroughTime(RecurrentLayer):
    """The classic bug: each step's hidden-state gradient is its own output's only."""

    def carried(self, dh_next, dc_next):
        return np.zeros_like(dh_next), np.zeros_like(dc_next)


class WithoutBPTT(ReferenceNumpy):
    capabilities = ReferenceNumpy.capabilities

    def build(self, spec, params):
        super().build(spec, params)
        for layer in self.net.layers:
            if isinstance(layer, RecurrentLayer):
                layer.__class__ = NoGradientThroughTime


def test_a_backward_without_gradient_through_time_fails_at_the_earlier_steps_only():
    case = next(c for c in QUICK if c.spec.kinds == ("rnn",) and c.dtype == "float64")
    rows = run_case(Driver(Target("no_bptt", WithoutBPTT, "test")), case)
    failing = {r.tensor for r in rows if r.check == "gradient" and r.verdict == "fail"}
    assert {"input", "0.weight_hh_l0", "0.weight_ih_l0"} <= failing
    observed = WithoutBPTT()
    data = generate_case(case)
    observed.build(case.spec, data.params)
    observed.forward(data.x)
    dx = observed.backward(data.upstream).input
    from conformance.oracles.torch import reference
    due = reference(data).gradients.input
    assert np.allclose(dx[:, -1], due[:, -1]) and not np.allclose(dx[:, 0], due[:, 0])
