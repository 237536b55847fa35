"""Recurrent layer kinds: ``rnn`` (tanh), ``lstm`` and ``gru`` unrolled over a sequence.

Each takes samples of shape (time, input_size) and returns the hidden state of every step,
(time, hidden_size): ``torch.nn.RNN``/``LSTM``/``GRU`` with ``batch_first=True`` and one layer.
Parameters are PyTorch's, by PyTorch's names and gate order: ``weight_ih_l0``
(gates·hidden, input), ``weight_hh_l0`` (gates·hidden, hidden), ``bias_ih_l0`` and
``bias_hh_l0`` (gates·hidden,), with the gates stacked i, f, g, o (LSTM) and r, z, n (GRU).
The initial state is zeros, or (``initial_state=True``) given: the buffers ``"{i}.h0"``
(batch, hidden) and, for an LSTM, ``"{i}.c0"``, drawn from the case's seed and never
differentiated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from conformance.cases.layers import LayerKind, Shape

#: The kinds this module adds (also listed in ``layers.LAYER_KINDS``).
RECURRENT_KINDS = ("rnn", "lstm", "gru")


@dataclass(frozen=True)
class Recurrent(LayerKind):
    input_size: int
    hidden_size: int
    initial_state: bool = False
    gates: ClassVar[int] = 1
    states: ClassVar[tuple[str, ...]] = ("h0",)

    def out_shape(self, shape: Shape) -> Shape:
        if len(shape) != 2 or shape[1] != self.input_size:
            raise ValueError(f"{self.kind} takes (time, {self.input_size}) per sample, got {shape}")
        return (shape[0], self.hidden_size)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        rows = self.gates * self.hidden_size
        return {"weight_ih_l0": (rows, self.input_size), "weight_hh_l0": (rows, self.hidden_size),
                "bias_ih_l0": (rows,), "bias_hh_l0": (rows,)}

    def buffers(self, shape: Shape, batch: int) -> dict[str, Shape]:
        return {name: (batch, self.hidden_size) for name in self.states} if self.initial_state else {}

    @property
    def label(self) -> str:
        return self.kind + (".h0" if self.initial_state else "")


@dataclass(frozen=True)
class RNN(Recurrent):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)."""

    kind: ClassVar[str] = "rnn"


@dataclass(frozen=True)
class LSTM(Recurrent):
    """Gates i, f, g, o = σ, σ, tanh, σ of (W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), stacked in that
    order; c_t = f·c_{t−1} + i·g, h_t = o·tanh(c_t)."""

    kind: ClassVar[str] = "lstm"
    gates: ClassVar[int] = 4
    states: ClassVar[tuple[str, ...]] = ("h0", "c0")


@dataclass(frozen=True)
class GRU(Recurrent):
    """r, z = σ(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t−1} + b_h{r,z}); n = tanh(W_in x_t + b_in +
    r·(W_hn h_{t−1} + b_hn)); h_t = (1 − z)·n + z·h_{t−1} (PyTorch's: z keeps the old state)."""

    kind: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3
