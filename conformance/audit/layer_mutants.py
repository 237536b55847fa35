"""More mutants (see ``sequence_mutants``, ``mlp_mutants``): activation derivatives, norms,
pools, softmax and the L2 penalty of layer networks written wrong the way hand-written code
gets them wrong, each in its own style (masks built by assignment, loops over windows,
statistics with NumPy's ``ddof``), and two MLP bugs (the identity's derivative as z, every
gradient clipped), for ``audit.mutants`` to list with the diagnosis each should get.
"""

from __future__ import annotations

import numpy as np

from conformance.audit.mlp_mutants import Mutable
from conformance.audit.sequence_mutants import SequenceMutantAdapter
from conformance.implementations.reference_layers import ActivationLayer, NormLayer, PoolLayer
from conformance.implementations.reference_numpy import activation_derivative
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
        return self.unpadded(dx)

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


class SoftmaxOverBatch(ActivationLayer):
    """Softmax normalised over axis 0 (the batch), forward and backward, as when ``axis=0`` is
    copied from column-vector code."""

    def forward(self, z):
        if self.name != "softmax":
            return super().forward(z)
        self.z = z
        e = np.exp(z - z.max(axis=0, keepdims=True))
        self.a = e / e.sum(axis=0, keepdims=True)
        return self.a

    def backward(self, grad):
        if self.name != "softmax":
            return super().backward(grad)
        self.grads = {}
        return self.a * (grad - (grad * self.a).sum(axis=0, keepdims=True))


class MaxPoolPaddingZeros(PoolLayer):
    """A padded max-pool written window by window over ``np.pad``'s zeros where −∞ is due."""

    def forward(self, x):
        if self.kind != "maxpool2d" or not self.padding:
            return super().forward(x)
        k, s, p = self.kernel, self.stride, self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        self.shape = xp.shape
        self.rows, self.cols = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
        out = np.empty(x.shape[:2] + (self.rows, self.cols), dtype=x.dtype)
        self.winner = np.empty(out.shape, dtype=int)
        for r in range(self.rows):
            for q in range(self.cols):
                window = xp[:, :, r * s:r * s + k, q * s:q * s + k].reshape(x.shape[0], x.shape[1], k * k)
                self.winner[:, :, r, q], out[:, :, r, q] = window.argmax(axis=2), window.max(axis=2)
        return out


class MlpIdentityDerivativeIsInput(Mutable):
    """The identity's derivative written ``return z`` where ``return np.ones_like(z)`` is due."""

    def derivative(self, i, name, z, a):
        return z if name == "identity" else activation_derivative(name, z, a)


class GradientsClippedInBackward(Mutable):
    """Every weight and bias gradient clipped to ±``CLIP`` before it is returned."""

    CLIP = 0.25

    def backward(self, grad_output):
        grad, grad_w, grad_b = super().backward(grad_output)
        return (grad, [np.clip(g, -self.CLIP, self.CLIP) for g in grad_w],
                [None if g is None else np.clip(g, -self.CLIP, self.CLIP) for g in grad_b])


class FirstBiasSummedOverUnits(Mutable):
    """The first layer's bias gradient ``delta.sum(axis=1)`` (axis 0 is due)."""

    def bias_gradient(self, i, delta):
        return delta.sum(axis=1) if i == 0 else super().bias_gradient(i, delta)


class MiddleWeightGradientFromOutput(Mutable):
    """Layer 1's weight gradient from its own output: ``delta.T @ a`` where ``delta.T @ x`` is due."""

    def weight_gradient(self, i, delta, inputs):
        return delta.T @ self.post[i] if i == 1 else super().weight_gradient(i, delta, inputs)


class AvgPoolExcludesPadding(PoolLayer):
    """A padded average pool dividing each window by its elements inside the input
    (``count_include_pad=False``, a convention), forward and backward."""

    def forward(self, x):
        if self.kind != "avgpool2d" or not self.padding:
            return super().forward(x)
        k, s, p = self.kernel, self.stride, self.padding
        xp, inside = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))), np.pad(np.ones(x.shape[2:]), p)
        self.shape = xp.shape
        self.rows, self.cols = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
        self.count = np.array([[inside[r * s:r * s + k, q * s:q * s + k].sum() for q in range(self.cols)]
                               for r in range(self.rows)])
        out = np.empty(x.shape[:2] + (self.rows, self.cols), dtype=x.dtype)
        for r in range(self.rows):
            for q in range(self.cols):
                out[:, :, r, q] = xp[:, :, r * s:r * s + k, q * s:q * s + k].sum(axis=(2, 3)) / self.count[r, q]
        return out

    def backward(self, grad):
        if self.kind != "avgpool2d" or not self.padding:
            return super().backward(grad)
        self.grads = {}
        k, s = self.kernel, self.stride
        dx = np.zeros(self.shape, dtype=grad.dtype)
        for r in range(self.rows):
            for q in range(self.cols):
                dx[:, :, r * s:r * s + k, q * s:q * s + k] += grad[:, :, r:r + 1, q:q + 1] / self.count[r, q]
        return self.unpadded(dx)


class AvgPoolBackwardCountsPadding(AvgPoolExcludesPadding):
    """A padded average pool whose forward divides by the window's elements inside the input and
    whose backward, copied from an unpadded pool, divides every window by k²."""

    def backward(self, grad):
        return PoolLayer.backward(self, grad)
