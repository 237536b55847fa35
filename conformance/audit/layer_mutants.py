"""More layer-sequence mutants (see ``sequence_mutants``): activation derivatives, norms,
an average pool and the L2 penalty written wrong the way hand-written code gets them
wrong, each in its own style (masks built by assignment, loops over windows, statistics
with NumPy's ``ddof``), for ``audit.mutants`` to list with the diagnosis each should get.
"""

from __future__ import annotations

import numpy as np

from conformance.audit.sequence_mutants import SequenceMutantAdapter
from conformance.implementations.reference_layers import ActivationLayer, NormLayer, PoolLayer
from conformance.cases.layers import NORM_EPS

#: The slope the leaky-ReLU mutant uses (0.01 is due).
WRONG_LEAKY_SLOPE = 0.1


class _Derivative(ActivationLayer):
    """An activation whose backward multiplies by ``slip(z, a)`` for the layers named ``applies_to``."""

    applies_to = ""

    def backward(self, grad):
        if self.name != self.applies_to:
            return super().backward(grad)
        self.grads = {}
        return grad * self.slip(self.z, self.a)


class LeakySlopeWrong(_Derivative):
    applies_to = "leaky_relu"
    slope = WRONG_LEAKY_SLOPE

    def slip(self, z, a):
        d = np.ones_like(z)
        d[z <= 0] = self.slope
        return d


class EluDerivativeWithoutAlpha(_Derivative):
    """ELU's derivative for z < 0 taken as the output a, the + α left out."""

    applies_to = "elu"

    @staticmethod
    def slip(z, a):
        return np.where(z > 0, np.ones_like(z), a)


class SoftplusDerivativeAtOutput(_Derivative):
    """Softplus's derivative σ(·) applied to the cached output instead of the input."""

    applies_to = "softplus"

    @staticmethod
    def slip(z, a):
        return 1 / (1 + np.exp(-a))


class SoftplusSigmoidDerivative(_Derivative):
    """Softplus's derivative written as the sigmoid's derivative s·(1 − s)."""

    applies_to = "softplus"

    @staticmethod
    def slip(z, a):
        s = 1 / (1 + np.exp(-z))
        return s * (1 - s)


class IdentityDerivativeIsInput(_Derivative):
    """The identity's ``derivative`` returns its argument instead of ones."""

    applies_to = "identity"

    @staticmethod
    def slip(z, a):
        return z


class NormMeanTermMissing(NormLayer):
    """dx = (dx̂ − x̂·mean(dx̂·x̂))/σ: the −mean(dx̂) term left out."""

    def backward(self, grad):
        super().backward(grad)
        dxhat = grad * self.weight
        projection = (dxhat * self.xhat).mean(axis=self.axes, keepdims=True)
        return (dxhat - self.xhat * projection) * self.inv_std


class NormUnbiasedVariance(NormLayer):
    """Statistics with ``np.var(..., ddof=1)`` (the unbiased variance); the backward is the
    textbook formula on that x̂."""

    def forward(self, x):
        mean = x.mean(axis=self.axes, keepdims=True)
        self.inv_std = 1 / np.sqrt(np.var(x, axis=self.axes, keepdims=True, ddof=1) + NORM_EPS)
        self.xhat = (x - mean) * self.inv_std
        return self.weight * self.xhat + self.bias


class AvgPoolDividesByKernelTimesStride(PoolLayer):
    """Average pool whose backward divides each window's gradient by kernel·stride, not kernel²."""

    def backward(self, grad):
        if self.kind != "avgpool2d":
            return super().backward(grad)
        self.grads = {}
        dx = np.zeros(self.shape, dtype=grad.dtype)
        k, s, divisor = self.kernel, self.stride, self.divisor()
        for r in range(grad.shape[2]):
            for q in range(grad.shape[3]):
                dx[:, :, r * s:r * s + k, q * s:q * s + k] += grad[:, :, r:r + 1, q:q + 1] / divisor
        return dx

    def divisor(self) -> float:
        return self.kernel * self.stride


class BiasesPenalised(SequenceMutantAdapter):
    """The L2 penalty over the dense and conv biases too, in the loss and in their gradients."""

    def sequence_loss(self, x, targets):
        loss, grads = super().sequence_loss(x, targets)
        named = dict(grads.named)
        biases = [n for n in named if n.endswith(".bias") and self.spec.kinds[int(n.split(".")[0])]
                  in ("dense", "conv2d")]
        for name in biases:
            named[name] = named[name] + self.spec.l2 * self.params[name]
        extra = sum(0.5 * self.spec.l2 * float((self.params[n].astype(np.float64) ** 2).sum()) for n in biases)
        return loss + extra, type(grads)(grads.input, named=named)


def biases_penalised(name: str, bug: str) -> type[SequenceMutantAdapter]:
    return type(f"Mutant_{name}", (BiasesPenalised,), {"name": f"mutant:{name}", "description": bug,
                                                       "__module__": __name__})
