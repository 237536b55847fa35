"""The recurrent layers' mutants' bugs: ``reference_recurrent.RecurrentLayer`` with its
backpropagation through time written wrong, the way people get it wrong by hand.
``audit.mutants`` lists them with the diagnosis each should get."""

from __future__ import annotations

import numpy as np

from conformance.implementations.reference_recurrent import RecurrentLayer


class NoGradientThroughTime(RecurrentLayer):
    """Each step's hidden-state (and cell-state) gradient is its own output's only: what a step
    sends back to the one before it is dropped."""

    def carried(self, dh_next, dc_next):
        return np.zeros_like(dh_next), np.zeros_like(dc_next)


class HiddenGradientNotCarried(RecurrentLayer):
    """An LSTM's ``dh[:, t]`` where ``dh[:, t] + dprev_h`` is due; the cell state's gradient carried."""

    def carried(self, dh_next, dc_next):
        return np.zeros_like(dh_next), dc_next


class CellGradientNotCarried(RecurrentLayer):
    """An LSTM that starts each step's backward from a zero cell-state gradient; h's carried."""

    def carried(self, dh_next, dc_next):
        return dh_next, np.zeros_like(dc_next)


class ForgetGateMissingFromCellGradient(RecurrentLayer):
    """An LSTM's c_{t−1} gradient taken as c_t's, the forget gate's factor left out."""

    def through_forget_gate(self, dc, f):
        return dc


class UpdateGateSignFlipped(RecurrentLayer):
    """A GRU's update-gate gradient with the sign of (h_{t−1} − n) flipped, as if h_t = z·n + (1 − z)·h_{t−1}
    in the backward only."""

    def step_backward(self, dh, dc, cache):
        d_gi, d_gh, dh_prev, dc, cache = super().step_backward(dh, dc, cache)
        if self.kind == "gru":
            hidden = dh.shape[1]
            d_gi, d_gh = d_gi.copy(), d_gh.copy()
            d_gi[:, hidden:2 * hidden] *= -1
            d_gh[:, hidden:2 * hidden] *= -1
        return d_gi, d_gh, dh_prev, dc, cache
