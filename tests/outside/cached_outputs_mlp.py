"""Written from the README and docs/adapter.md alone: an MLP of layer objects that cache their
outputs (not their pre-activations), each activation an object with its derivative written in
terms of the output, as many tutorials have it (a·(1 − a) for the sigmoid, 1 − a² for tanh).
Its own loss is the softmax cross-entropy, mean over the batch, from a log-softmax that
subtracts each row's max. Three classic slips can be planted: ``NEXT_DERIVATIVE`` (each hidden
layer's backward uses the activation of the layer above it, applied to its own output),
``SOFTMAX_WITHOUT_MAX``, and ``DW_AS_INPUT_T_DZ`` (the weight gradient written inpᵀ·dz, the
transpose of W's (n_out, n_in) layout: only a square layer's has the right shape)."""

import numpy as np

from conformance import Adapter, Capabilities, Gradients

NEXT_DERIVATIVE = False
SOFTMAX_WITHOUT_MAX = False
DW_AS_INPUT_T_DZ = False


class Sigmoid:
    def __call__(self, z):
        return 1 / (1 + np.exp(-z))

    def grad(self, out):
        return out * (1 - out)


class Tanh:
    def __call__(self, z):
        return np.tanh(z)

    def grad(self, out):
        return 1 - out ** 2


class ReLU:
    def __call__(self, z):
        return np.maximum(z, 0)

    def grad(self, out):
        return (out > 0) * 1.0


class Linear:
    def __call__(self, z):
        return z

    def grad(self, out):
        return np.ones_like(out)


ACTS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "identity": Linear}


class Layer:
    def __init__(self, W, b, act):
        self.W, self.b, self.act = W.copy(), None if b is None else b.copy(), ACTS[act]()

    def forward(self, inp):
        self.inp = inp
        z = inp @ self.W.T
        if self.b is not None:
            z = z + self.b
        self.out = self.act(z)
        return self.out


class Net:
    def __init__(self, layers):
        self.layers = layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        grads = []
        for k in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[k]
            # the derivative of the activation this gradient just came through
            act = self.layers[k + 1].act if NEXT_DERIVATIVE and k + 1 < len(self.layers) else layer.act
            dz = dout * act.grad(layer.out)
            dW = layer.inp.T @ dz if DW_AS_INPUT_T_DZ else dz.T @ layer.inp
            grads.append((dW, None if layer.b is None else dz.sum(0)))
            dout = dz @ layer.W
        return dout, grads[::-1]

    def softmax_ce(self, x, labels):
        logits = self.forward(x)
        n = len(labels)
        if SOFTMAX_WITHOUT_MAX:
            e = np.exp(logits)
            p = e / e.sum(axis=1, keepdims=True)
            loss = -np.log(p[np.arange(n), labels]).mean()
        else:
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            p = np.exp(log_p)
            loss = -log_p[np.arange(n), labels].mean()
        d = p.copy()
        d[np.arange(n), labels] -= 1
        return loss, d / n


class CachedOutputsAdapter(Adapter):
    name = "cached_outputs_mlp"
    capabilities = Capabilities(losses={"softmax_cross_entropy"})

    def build(self, spec, params):
        self.net = Net([Layer(W, b, layer.activation)
                        for W, b, layer in zip(params.weights, params.biases, spec.layers)])

    def forward(self, x):
        return self.net.forward(x)

    def backward(self, grad_output):
        return self._gradients(*self.net.backward(grad_output))

    def loss(self, x, targets):
        value, dlogits = self.net.softmax_ce(x, targets.astype(int))
        # the output layer's own derivative is applied in backward (1 for the identity output)
        return value, self._gradients(*self.net.backward(dlogits))

    def _gradients(self, dx, grads):
        return Gradients(dx, tuple(g for g, _ in grads), tuple(b for _, b in grads))
