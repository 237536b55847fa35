"""Functions written from the documentation alone (``tests/outside/custom_functions.py``): each
passes, and the mistake its author would most likely make is caught and located."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conformance import Index, check_function
from tests.outside import custom_functions as outside


class FocalLossWithoutItsModulatingTerm(outside.FocalLoss):
    """The (1 - p_t)^γ factor's own derivative forgotten: cross-entropy's gradient times it."""

    @staticmethod
    def backward(ctx, grad):
        logp, target, pt, logpt = ctx.saved_tensors
        onehot = torch.zeros_like(logp).scatter_(1, target[:, None], 1.0)
        dlogits = -((1 - pt) ** outside.GAMMA)[:, None] * (onehot - logp.exp())
        return grad * dlogits / logp.shape[0], None


def attention_backward_unscaled(dout, cache):
    """The 1/sqrt(d) of the scores left out of the backward."""
    q, k, v, weights = cache
    dweights = dout @ v.T
    dscores = weights * (dweights - (dweights * weights).sum(axis=1, keepdims=True))
    return dscores @ k, dscores.T @ q, weights.T @ dout


class LayerNormStatisticsAsConstants(outside.LayerNorm):
    """The mean and variance treated as constants in the backward."""

    def backward(self, dout):
        self.grads = {"gamma": (dout * self.xhat).sum(axis=0), "beta": dout.sum(axis=0)}
        return dout * self.params["gamma"] * self.inv


FOCAL = {"logits": (6, 5), "target": Index((6,), 5)}
ATTENTION = {"q": (3, 4), "k": (5, 4), "v": (5, 2)}


@pytest.mark.parametrize("call", [
    pytest.param(lambda: check_function(outside.FocalLoss, inputs=FOCAL), id="a focal loss Function"),
    pytest.param(lambda: check_function(outside.attention_forward, inputs=ATTENTION,
                                        backward=outside.attention_backward), id="NumPy softmax attention"),
    pytest.param(lambda: check_function(outside.LayerNorm(), inputs={"x": (4, 6)}), id="a CS231n layer norm"),
    pytest.param(lambda: check_function(outside.LogSumExp, inputs={"x": (3, 7)},
                                        reference=outside.logsumexp_reference), id="a log-sum-exp kernel"),
])
def test_functions_written_from_the_documentation_pass(call):
    report = call()
    assert report.passed, report.message


def test_their_likely_mistakes_are_caught_located_and_explained():
    focal = check_function(FocalLossWithoutItsModulatingTerm, inputs=FOCAL, shapes=1, dtypes=["float64"])
    assert not focal.passed and any(r.check == "fd_entry" and r.tensor == "logits" for r in focal.rows)
    attention = check_function(outside.attention_forward, inputs=ATTENTION, backward=attention_backward_unscaled,
                               shapes=1, dtypes=["float64"])
    causes = {r.tensor: r.diagnosis for r in attention.rows if r.check == "fd_entry"}
    assert set(causes) == {"q", "k"} and "q's gradient is ×2" in causes["q"]  # sqrt(4) = 2; v is right
    norm = check_function(LayerNormStatisticsAsConstants(), inputs={"x": (4, 6)}, shapes=1, dtypes=["float64"])
    assert [r.tensor for r in norm.rows if r.check == "fd_entry"] == ["x"]
    assert "only x's gradient is wrong" in next(r.diagnosis for r in norm.rows if r.check == "fd_entry")
    assert np.isfinite(next(r.max_abs_error for r in norm.rows if r.check == "fd_entry"))
