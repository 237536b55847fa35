"""A vanilla RNN written from the README and docs/adapter.md alone, the way min-char-rnn
does it: one sequence at a time, column vectors, Wxh (H, D), Whh (H, H), one bias bh (H, 1),
the states in a dict keyed by time step, dhnext carried back through time; then flatten, a
dense layer and a softmax cross-entropy. ``BUG_NO_BPTT = True`` plants the classic bug
(each step's hidden-state gradient its own output's only, dhnext dropped)."""

import numpy as np

from conformance import Adapter, Capabilities, Gradients

BUG_NO_BPTT = False


class CharRNN:
    def __init__(self, Wxh, Whh, bh):
        self.Wxh, self.Whh, self.bh = Wxh, Whh, bh

    def forward(self, inputs, hprev):
        """inputs: list of (D, 1) column vectors; hprev (H, 1)."""
        xs, hs = {}, {}
        hs[-1] = np.copy(hprev)
        for t in range(len(inputs)):
            xs[t] = inputs[t]
            hs[t] = np.tanh(np.dot(self.Wxh, xs[t]) + np.dot(self.Whh, hs[t - 1]) + self.bh)
        self.xs, self.hs = xs, hs
        return [hs[t] for t in range(len(inputs))]

    def backward(self, dys):
        """dys: list of dL/dh_t (H, 1), from the layers above."""
        xs, hs = self.xs, self.hs
        dWxh, dWhh, dbh = np.zeros_like(self.Wxh), np.zeros_like(self.Whh), np.zeros_like(self.bh)
        dxs = {}
        dhnext = np.zeros_like(hs[0])
        for t in reversed(range(len(xs))):
            dh = dys[t] if BUG_NO_BPTT else dys[t] + dhnext
            dhraw = (1 - hs[t] * hs[t]) * dh
            dbh += dhraw
            dWxh += np.dot(dhraw, xs[t].T)
            dWhh += np.dot(dhraw, hs[t - 1].T)
            dxs[t] = np.dot(self.Wxh.T, dhraw)
            dhnext = np.dot(self.Whh.T, dhraw)
        return [dxs[t] for t in range(len(xs))], dWxh, dWhh, dbh


class RNNAdapter(Adapter):
    name = "minchar_rnn"
    capabilities = Capabilities(layers={"rnn", "flatten", "dense"}, mlp=False,
                                losses={"softmax_cross_entropy"})

    def supports(self, spec, batch, dtype):
        reason = super().supports(spec, batch, dtype)
        if reason:
            return reason
        if spec.kinds[0] != "rnn" or len(spec.kinds) not in (1, 3):
            return "only rnn, or rnn-flatten-dense"
        return None

    def build(self, spec, params):
        self.spec, self.params = spec, params
        self.rnn = CharRNN(params["0.weight_ih_l0"], params["0.weight_hh_l0"],
                           (params["0.bias_ih_l0"] + params["0.bias_hh_l0"]).reshape(-1, 1))
        self.h0 = params["0.h0"] if "0.h0" in params else None
        self.dense = len(spec.kinds) == 3
        if self.dense:
            self.W, self.b = params["2.weight"], params.get("2.bias")

    def forward(self, x):
        batch, T, _ = x.shape
        H = self.rnn.Whh.shape[0]
        self.caches, out = [], []
        for n in range(batch):  # one sequence at a time, as min-char-rnn does
            hprev = np.zeros((H, 1), x.dtype) if self.h0 is None else self.h0[n].reshape(-1, 1)
            hs = self.rnn.forward([x[n, t].reshape(-1, 1) for t in range(T)], hprev)
            self.caches.append((self.rnn.xs, self.rnn.hs))
            out.append(np.concatenate([h.T for h in hs], axis=0))  # (T, H)
        h = np.stack(out)
        if not self.dense:
            return h
        self.flat = h.reshape(batch, -1)
        z = self.flat @ self.W.T
        return z if self.b is None else z + self.b

    def backward(self, grad_output):
        named = {}
        if self.dense:
            named["2.weight"] = grad_output.T @ self.flat
            if self.b is not None:
                named["2.bias"] = grad_output.sum(axis=0)
            dh = (grad_output @ self.W).reshape(grad_output.shape[0], -1, self.rnn.Whh.shape[0])
        else:
            dh = grad_output
        batch, T, _ = dh.shape
        dWxh = dWhh = dbh = 0
        dx = []
        for n in range(batch):
            self.rnn.xs, self.rnn.hs = self.caches[n]
            dxs, a, b, c = self.rnn.backward([dh[n, t].reshape(-1, 1) for t in range(T)])
            dWxh, dWhh, dbh = dWxh + a, dWhh + b, dbh + c
            dx.append(np.concatenate([d.T for d in dxs], axis=0))
        named.update({"0.weight_ih_l0": dWxh, "0.weight_hh_l0": dWhh,
                      "0.bias_ih_l0": dbh.ravel(), "0.bias_hh_l0": dbh.ravel()})
        return Gradients(np.stack(dx), named=named)

    def loss(self, x, targets):
        z = self.forward(x)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        n = z.shape[0]
        value = -np.log(p[np.arange(n), targets]).mean()
        dz = p.copy()
        dz[np.arange(n), targets] -= 1
        return value, self.backward(dz / n)
