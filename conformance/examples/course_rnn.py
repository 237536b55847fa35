"""Example plug-in: recurrent layers written the way the image-captioning course assignments
have them, and the adapter that composes them into the suite's networks.

    conformance new --example course_rnn my_rnn.py && conformance check my_rnn.py

Every layer is module-level functions returning a cache: ``rnn_step_forward/backward`` and
``rnn_forward/backward`` over a sequence, the same for the LSTM, ``word_embedding_*`` and
``temporal_affine_*``. The course's layout is not PyTorch's: ``Wx`` (D, H) and ``Wh`` (H, H)
(4H columns for an LSTM) with one bias ``b``, and the LSTM's gates stacked i, f, o, g. The
adapter translates: it transposes the weights, adds PyTorch's two biases into one (and hands
that bias's gradient back for both), swaps the g and o blocks going in and coming back, and
returns the gradients by parameter name. Replace a function with your own (a subclass
setting ``rnn_backward = staticmethod(my_rnn_backward)``) to check just that one.
"""

import numpy as np

from conformance import Adapter, Capabilities, Gradients

# ---- the layer functions ---------------------------------------------------------------------


def sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))  # never overflows, unlike 1 / (1 + exp(-x))


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h, prev_h, cache = np.zeros((N, T, Wh.shape[0]), dtype=x.dtype), h0, []
    for t in range(T):
        prev_h, step = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        cache.append(step)
    return h, cache


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    Wx, Wh = cache[0][2], cache[0][3]
    dx = np.zeros((N, T, Wx.shape[0]), dtype=dh.dtype)
    dWx, dWh, db, dprev_h = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H, dtype=dh.dtype), np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev_h, cache[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev_h, dWx, dWh, db


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc ** 2)
    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tc * o * (1 - o),
                         dc * i * (1 - g ** 2)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    N, T, _ = x.shape
    h = np.zeros((N, T, Wh.shape[0]), dtype=x.dtype)
    prev_h, prev_c, cache = h0, np.zeros_like(h0) if c0 is None else c0, []
    for t in range(T):
        prev_h, prev_c, step = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        cache.append(step)
    return h, cache


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    Wx, Wh = cache[0][3], cache[0][4]
    dx = np.zeros((N, T, Wx.shape[0]), dtype=dh.dtype)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H, dtype=dh.dtype)
    dprev_h, dprev_c = np.zeros_like(dh[:, 0]), np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev_h, dWx, dWh, db


def word_embedding_forward(x, W):
    return W[x], (x, W)


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)  # a word repeated in the minibatch adds up its gradients
    return dW


def temporal_affine_forward(x, w, b):
    return x @ w + b, (x, w)


def temporal_affine_backward(dout, cache):
    x, w = cache
    M = w.shape[1]
    return dout @ w.T, x.reshape(-1, w.shape[0]).T @ dout.reshape(-1, M), dout.reshape(-1, M).sum(axis=0)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return -log_probs[np.arange(n), y].mean(), dx / n


# ---- the adapter -----------------------------------------------------------------------------


def _gate_rows(kind, hidden):
    """PyTorch's rows in the course's order: the LSTM's blocks i, f, g, o taken as i, f, o, g
    (a swap, so the same rows map the course's gradients back)."""
    blocks = (0, 1, 3, 2) if kind == "lstm" else (0,)
    return np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in blocks])


class CourseRNNAdapter(Adapter):
    name = "course_rnn"
    description = "example: course-style recurrent layers (rnn and lstm steps with caches, word embedding, affine)"
    capabilities = Capabilities(layers={"rnn", "lstm", "embedding", "dense", "flatten"},
                                losses={"softmax_cross_entropy"}, mlp=False)

    rnn_forward, rnn_backward = staticmethod(rnn_forward), staticmethod(rnn_backward)
    lstm_forward, lstm_backward = staticmethod(lstm_forward), staticmethod(lstm_backward)

    def build(self, spec, params):
        self.spec, self.params = spec, params

    def _recurrent(self, i, layer, x):
        def get(name):
            return self.params.get(f"{i}.{name}")
        rows = _gate_rows(layer.kind, layer.hidden_size)
        Wx, Wh = get("weight_ih_l0")[rows].T, get("weight_hh_l0")[rows].T
        b = (get("bias_ih_l0") + get("bias_hh_l0"))[rows]
        h0 = np.zeros((len(x), layer.hidden_size), dtype=x.dtype) if get("h0") is None else get("h0")
        lstm = layer.kind == "lstm"
        out, cache = self.lstm_forward(x, h0, Wx, Wh, b, get("c0")) if lstm else self.rnn_forward(x, h0, Wx, Wh, b)

        def backward(d):
            dx, _, dWx, dWh, db = (self.lstm_backward if lstm else self.rnn_backward)(d, cache)
            named = {"weight_ih_l0": dWx.T[rows], "weight_hh_l0": dWh.T[rows], "bias_ih_l0": db[rows],
                     "bias_hh_l0": db[rows]}
            return dx, {f"{i}.{name}": g for name, g in named.items()}
        return out, backward

    def _step(self, i, layer, x):
        """Layer i forward: its output, and how to take its backward (dout -> dx, grads by name)."""
        if layer.kind in ("rnn", "lstm"):
            return self._recurrent(i, layer, x)
        if layer.kind == "embedding":
            out, cache = word_embedding_forward(x, self.params[f"{i}.weight"])
            return out, lambda d: (None, {f"{i}.weight": word_embedding_backward(d, cache)})
        if layer.kind == "dense":
            out, cache = temporal_affine_forward(x, self.params[f"{i}.weight"].T, self.params[f"{i}.bias"])

            def affine_backward(d):
                dx, dw, db = temporal_affine_backward(d, cache)
                return dx, {f"{i}.weight": dw.T, f"{i}.bias": db}
            return out, affine_backward
        if layer.kind == "flatten":
            return x.reshape(len(x), -1), lambda d: (d.reshape(x.shape), {})
        raise ValueError(f"no {layer.kind} layer")

    def supports(self, spec, batch, dtype):
        if any(layer.kind == "dense" and not layer.bias for layer in getattr(spec, "layers", ())):
            return "temporal_affine_forward takes a bias"
        return super().supports(spec, batch, dtype)

    def forward(self, x):
        self.backwards = []
        for i, layer in enumerate(self.spec.layers):
            x, backward = self._step(i, layer, x)
            self.backwards.append(backward)
        return x

    def backward(self, grad_output):
        named = {}
        for backward in reversed(self.backwards):
            grad_output, grads = backward(grad_output)
            named |= grads
        return Gradients(grad_output, named=named)

    def loss(self, x, targets):
        value, dscores = softmax_loss(self.forward(x), targets)
        return value, self.backward(dscores)
