"""The project's own NumPy recurrent layers (``rnn``, ``lstm``, ``gru``) for layer-sequence
networks, with backpropagation through time: the model to copy.

Each is a layer of ``reference_layers.Sequential`` (``forward(x)``, ``backward(grad)``,
``grads``). Forward keeps every step's gates and states; backward walks the steps from the
last to the first, adding to each step's hidden-state gradient (from its own output) the one
the next step sends back, and for an LSTM carrying the cell state's gradient back through
the forget gate. Parameters in PyTorch's layout and gate order (i, f, g, o; r, z, n).
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


class RecurrentLayer:
    """One recurrent layer of ``kind`` unrolled over (batch, time, input); initial state given or zeros."""

    def __init__(self, kind, weight_ih, weight_hh, bias_ih, bias_hh, h0=None, c0=None):
        self.kind, self.w_ih, self.w_hh, self.b_ih, self.b_hh = kind, weight_ih, weight_hh, bias_ih, bias_hh
        self.h0, self.c0 = h0, c0

    def forward(self, x):
        batch, steps, _ = x.shape
        hidden = self.w_hh.shape[1]
        zeros = np.zeros((batch, hidden), dtype=x.dtype)
        h = zeros if self.h0 is None else self.h0
        c = zeros if self.c0 is None else self.c0
        self.x, self.cache, out = x, [], np.empty((batch, steps, hidden), dtype=x.dtype)
        for t in range(steps):
            h, c, cache = self.step(x[:, t], h, c)
            self.cache.append(cache)
            out[:, t] = h
        return out

    def step(self, x, h_prev, c_prev):
        gi = x @ self.w_ih.T + self.b_ih
        gh = h_prev @ self.w_hh.T + self.b_hh
        if self.kind == "rnn":
            h = np.tanh(gi + gh)
            return h, c_prev, (x, h_prev, h)
        if self.kind == "lstm":
            i, f, g, o = np.split(gi + gh, 4, axis=1)
            i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
            c = f * c_prev + i * g
            tc = np.tanh(c)
            return o * tc, c, (x, h_prev, c_prev, i, f, g, o, tc)
        (ir, iz, inn), (hr, hz, hn) = np.split(gi, 3, axis=1), np.split(gh, 3, axis=1)
        r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
        n = np.tanh(inn + r * hn)
        return (1 - z) * n + z * h_prev, c_prev, (x, h_prev, r, z, n, hn)

    def backward(self, grad):
        """dx (batch, time, input); ``grads`` by PyTorch's names, summed over the steps."""
        dw_ih, dw_hh = np.zeros_like(self.w_ih), np.zeros_like(self.w_hh)
        db = np.zeros_like(self.b_ih)
        db_hh = np.zeros_like(self.b_hh)
        dx = np.zeros_like(self.x)
        dh_next = np.zeros_like(grad[:, 0])
        dc_next = np.zeros_like(dh_next)
        for t in reversed(range(grad.shape[1])):
            dh_next, dc_next = self.carried(dh_next, dc_next)
            dh = grad[:, t] + dh_next  # its own output's gradient, and what the next step sends back
            d_gi, d_gh, dh_next, dc_next, cache = self.step_backward(dh, dc_next, self.cache[t])
            x, h_prev = cache[0], cache[1]
            dw_ih += d_gi.T @ x
            dw_hh += d_gh.T @ h_prev
            db += d_gi.sum(axis=0)
            db_hh += d_gh.sum(axis=0)
            dx[:, t] = d_gi @ self.w_ih
            dh_next = dh_next + d_gh @ self.w_hh
        self.grads = {"weight_ih_l0": dw_ih, "weight_hh_l0": dw_hh, "bias_ih_l0": db, "bias_hh_l0": db_hh}
        return dx

    def carried(self, dh_next, dc_next):
        """What the next step sends back to this one (h's and, for an LSTM, c's gradient)."""
        return dh_next, dc_next

    def through_forget_gate(self, dc, f):
        """c_{t−1}'s gradient from c_t's: c_t = f·c_{t−1} + i·g."""
        return dc * f

    def step_backward(self, dh, dc, cache):
        """Gradients of the step's two pre-activations (input side, hidden side), the part of
        h_{t−1}'s gradient that bypasses W_hh, c_{t−1}'s gradient, and the cache."""
        if self.kind == "rnn":
            _, _, h = cache
            da = dh * (1 - h * h)
            return da, da, np.zeros_like(dh), dc, cache
        if self.kind == "lstm":
            _, _, c_prev, i, f, g, o, tc = cache
            dc = dc + dh * o * (1 - tc * tc)
            da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                                 dh * tc * o * (1 - o)], axis=1)
            return da, da, np.zeros_like(dh), self.through_forget_gate(dc, f), cache
        _, h_prev, r, z, n, hn = cache
        dn = dh * (1 - z) * (1 - n * n)
        dz = dh * (h_prev - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        d_gi = np.concatenate([dr, dz, dn], axis=1)
        d_gh = np.concatenate([dr, dz, dn * r], axis=1)
        return d_gi, d_gh, dh * z, dc, cache
