"""Custom functions written from docs/functions.md alone, in styles the suite's own code does not
use: a focal loss as a ``torch.autograd.Function`` with integer targets, a NumPy softmax attention
with a cache, a CS231n-style layer norm object, and a log-sum-exp kernel. Each is correct; the
file declares them for ``conformance check``."""

import numpy as np
import torch

FUNCTIONS = {
    "FocalLoss": {"inputs": {"logits": (6, 5), "target": ("index", (6,), 5)}},
    "attention_forward": {"inputs": {"q": (3, 4), "k": (5, 4), "v": (5, 2)}, "backward": "attention_backward"},
    "LayerNorm": {"layer": True, "inputs": {"x": (4, 6)}, "params": ["gamma", "beta"]},
    "LogSumExp": {"inputs": {"x": (3, 7)}, "reference": "logsumexp_reference"},
}

GAMMA = 2.0


class FocalLoss(torch.autograd.Function):
    """mean over the batch of -(1 - p_t)^γ log p_t, p = softmax(logits)."""

    @staticmethod
    def forward(ctx, logits, target):
        logp = torch.log_softmax(logits, dim=1)
        logpt = logp.gather(1, target[:, None]).squeeze(1)
        pt = logpt.exp()
        ctx.save_for_backward(logp, target, pt, logpt)
        return (-(1 - pt) ** GAMMA * logpt).mean()

    @staticmethod
    def backward(ctx, grad):
        logp, target, pt, logpt = ctx.saved_tensors
        n = logp.shape[0]
        # d loss_i / d logpt_i = γ (1-pt)^(γ-1) pt logpt - (1-pt)^γ
        dlogpt = GAMMA * (1 - pt) ** (GAMMA - 1) * pt * logpt - (1 - pt) ** GAMMA
        onehot = torch.zeros_like(logp).scatter_(1, target[:, None], 1.0)
        # d logpt / d logits = onehot - softmax
        dlogits = dlogpt[:, None] * (onehot - logp.exp())
        return grad * dlogits / n, None


def attention_forward(q, k, v):
    scores = q @ k.T / np.sqrt(q.shape[1])
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights @ v, (q, k, v, weights)


def attention_backward(dout, cache):
    q, k, v, weights = cache
    dv = weights.T @ dout
    dweights = dout @ v.T
    dscores = weights * (dweights - (dweights * weights).sum(axis=1, keepdims=True))
    dscores /= np.sqrt(q.shape[1])
    return dscores @ k, dscores.T @ q, dv


class LayerNorm:
    def __init__(self, features=6, eps=1e-5):
        self.params = {"gamma": np.ones(features), "beta": np.zeros(features)}
        self.eps = eps
        self.grads = {}

    def forward(self, x):
        mu = x.mean(axis=1, keepdims=True)
        var = x.var(axis=1, keepdims=True)
        self.xhat = (x - mu) / np.sqrt(var + self.eps)
        self.inv = 1 / np.sqrt(var + self.eps)
        return self.params["gamma"] * self.xhat + self.params["beta"]

    def backward(self, dout):
        d = dout.shape[1]
        self.grads = {"gamma": (dout * self.xhat).sum(axis=0), "beta": dout.sum(axis=0)}
        dxhat = dout * self.params["gamma"]
        return self.inv / d * (d * dxhat - dxhat.sum(axis=1, keepdims=True)
                               - self.xhat * (dxhat * self.xhat).sum(axis=1, keepdims=True))


class LogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        m = x.max(dim=1, keepdim=True).values
        out = m.squeeze(1) + torch.log(torch.exp(x - m).sum(dim=1))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        return grad[:, None] * torch.exp(x - out[:, None])


def logsumexp_reference(x):
    return torch.logsumexp(x, dim=1)
