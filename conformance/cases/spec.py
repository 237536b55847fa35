"""The case model: network specifications, cases, and the data a case feeds an implementation.

A ``NetworkSpec`` says what network to build (layer sizes, activations, bias, an
optional loss). A ``Case`` adds a batch size, a dtype and a seed (a layer-sequence
network's spec is ``layers.SequenceSpec``). ``CaseData`` is what a case feeds an
implementation: parameters in the canonical (PyTorch) layout, an input batch, an
upstream gradient and targets. ``mlp_data.generate`` draws it (the same case always
gives the same bytes); ``grid`` says which cases the suite runs.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from conformance.cases.conventions import PYTORCH, Conventions
from conformance.cases.layers import SequenceSpec

ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid")
KINKED_ACTIVATIONS = frozenset({"relu"})
LOSSES = ("sse", "half_sse", "mse", "half_mse", "softmax_cross_entropy")
DTYPES = ("float64", "float32")

#: Distance every ReLU pre-activation keeps from its kink in generated data
#: (unless the network is too large for that; ``CaseData.kink_margin`` says).
KINK_MARGIN = 0.05

@dataclass(frozen=True)
class Layer:
    """One fully connected layer: ``activation(x @ W.T + b)``, W of shape (n_out, n_in)."""

    n_in: int
    n_out: int
    activation: str = "identity"
    bias: bool = True

    def __post_init__(self) -> None:
        if self.n_in < 1 or self.n_out < 1:
            raise ValueError(f"layer sizes must be positive, got {self.n_in}→{self.n_out}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")


@dataclass(frozen=True)
class NetworkSpec:
    """A multilayer perceptron, and optionally the loss applied to its output."""

    layers: tuple[Layer, ...]
    loss: str | None = None

    #: An MLP's input is real and differentiated (``SequenceSpec.integer_input``).
    integer_input = False

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        for upper, lower in zip(self.layers, self.layers[1:]):
            if upper.n_out != lower.n_in:
                raise ValueError(f"layer widths do not chain: {upper.n_out} feeds {lower.n_in}")
        if self.loss is not None and self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; known: {', '.join(LOSSES)}")

    @classmethod
    def mlp(
        cls,
        sizes: Iterable[int],
        activation: str,
        output_activation: str | None = None,
        bias: bool = True,
        loss: str | None = None,
    ) -> NetworkSpec:
        """Layers of the given widths; every hidden layer uses ``activation``."""
        sizes = list(sizes)
        last = len(sizes) - 2
        layers = tuple(
            Layer(n_in, n_out, output_activation or activation if i == last else activation, bias)
            for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]))
        )
        return cls(layers, loss)

    @property
    def depth(self) -> int:
        return len(self.layers)

    def output_shape(self, batch: int) -> tuple[int, int]:
        return (batch, self.layers[-1].n_out)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.layers[0].n_in,) + tuple(layer.n_out for layer in self.layers)

    @property
    def hidden_activation(self) -> str:
        """The activation of the hidden layers (the output layer's for a one-layer net)."""
        return self.layers[0].activation if self.depth > 1 else self.layers[-1].activation

    @property
    def output_activation(self) -> str:
        return self.layers[-1].activation

    @property
    def bias(self) -> bool:
        return any(layer.bias for layer in self.layers)

    @property
    def n_params(self) -> int:
        return sum(layer.n_in * layer.n_out + layer.n_out * layer.bias for layer in self.layers)

    @property
    def activation_label(self) -> str:
        """``tanh`` when every layer uses tanh, ``tanh-identityout`` when the output differs,
        ``tanh+sigmoid+relu-sigmoidout`` for hidden layers of several, in the layers' order."""
        hidden = [layer.activation for layer in self.layers[:-1]] or [self.output_activation]
        label = hidden[0] if len(set(hidden)) == 1 else "+".join(hidden)
        if self.output_activation != label:
            label += f"-{self.output_activation}out"
        return label

    @property
    def square(self) -> bool:
        """Every layer as wide as its input: a transposed weight has the right shape."""
        return all(layer.n_in == layer.n_out for layer in self.layers)

    @functools.cached_property
    def name(self) -> str:
        # Cached (a frozen spec never changes): every result row and random stream names its case.
        bias = "bias" if all(layer.bias for layer in self.layers) else "nobias" if not self.bias else "somebias"
        return f"{self.depth}layer-{self.widths_label}-{self.activation_label}-{bias}"

    @property
    def widths_label(self) -> str:
        """The layer widths, input first: ``3.5.5.1`` for 3 → 5 → 5 → 1."""
        return ".".join(map(str, self.sizes))


@dataclass(frozen=True)
class Case:
    """A spec run at one batch size and dtype, with data drawn from ``seed``."""

    spec: NetworkSpec | SequenceSpec
    batch: int
    dtype: str = "float64"
    seed: int = 0
    #: The large-magnitude family (``cases.magnitude``): the last layer's values pushed to
    #: where naive formulas overflow (±100 in float32, ±1000 in float64).
    large: bool = False
    #: The conventions the oracle follows (PyTorch's unless an adapter declares, or the
    #: diagnosis fits, others); the case's data and id do not depend on them.
    conventions: Conventions = PYTORCH

    def __post_init__(self) -> None:
        if self.batch < getattr(self.spec, "min_batch", 1):
            raise ValueError(f"batch must be at least {getattr(self.spec, 'min_batch', 1)}, got {self.batch}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; known: {', '.join(DTYPES)}")

    @property
    def mode(self) -> str:
        """``vjp`` (backward from a given upstream gradient) or the loss's name."""
        return self.spec.loss or "vjp"

    @functools.cached_property
    def id(self) -> str:
        return f"{self.spec.name}{'-large' if self.large else ''}-b{self.batch}-{self.dtype}-{self.mode}"


@dataclass(frozen=True, eq=False)
class Params:
    """Canonical parameters: ``weights[l]`` is (n_out, n_in), ``biases[l]`` is (n_out,) or None."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray | None, ...]

    def copy(self) -> Params:
        return Params(
            tuple(w.copy() for w in self.weights),
            tuple(None if b is None else b.copy() for b in self.biases),
        )

    def named(self) -> dict[str, np.ndarray]:
        """The tensors by name, weights first, then the biases there are (``CaseData.flat``'s order)."""
        named = {f"weight[{i}]": w for i, w in enumerate(self.weights)}
        return named | {f"bias[{i}]": b for i, b in enumerate(self.biases) if b is not None}

    def astype(self, dtype) -> Params:
        def cast(a):
            return None if a is None else np.asarray(a, dtype=dtype)
        return Params(tuple(map(cast, self.weights)), tuple(map(cast, self.biases)))

    def rebuilt(self, named: dict[str, np.ndarray]) -> Params:
        """Parameters of this layout taking their values from ``named`` (as ``named`` names them)."""
        return Params(tuple(named[f"weight[{i}]"] for i in range(len(self.weights))),
                      tuple(None if b is None else named[f"bias[{i}]"] for i, b in enumerate(self.biases)))


@dataclass(frozen=True, eq=False)
class CaseData:
    """Everything a case feeds an implementation, in the case's dtype."""

    case: Case
    params: Params
    x: np.ndarray
    upstream: np.ndarray
    targets: np.ndarray
    #: Smallest distance of any ReLU pre-activation from zero (inf without ReLU).
    kink_margin: float = field(default=float("inf"))

    def copy(self) -> CaseData:
        return CaseData(
            self.case, self.params.copy(), self.x.copy(), self.upstream.copy(), self.targets.copy(), self.kink_margin
        )

    @property
    def dtype(self) -> np.dtype:
        """The dtype the case computes in (its input may be integer token indices)."""
        return self.upstream.dtype

    def tensors(self) -> dict[str, np.ndarray]:
        """The differentiable tensors by name, in the order of ``flat``: input (unless it is
        integer indices), weights, biases."""
        tensors = {} if self.case.spec.integer_input else {"input": self.x}
        return tensors | self.params.named()

    def flat(self) -> np.ndarray:
        """Input, weights and biases as one float64 vector (what finite differences perturb).

        Built once per data and shared, hence read-only: on a large network every
        probe asking for a fresh copy would cost as much as the forward it serves.
        """
        return self._flat

    @functools.cached_property
    def _flat(self) -> np.ndarray:
        flat = np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in self.tensors().values()])
        flat.flags.writeable = False
        return flat

    def __getstate__(self) -> dict:
        """Pickled without the cached flat vector (a worker builds its own when it needs it)."""
        return {key: value for key, value in self.__dict__.items() if key not in ("_flat", "_layout")}

    @functools.cached_property
    def _layout(self) -> tuple[tuple[str, int, int, tuple[int, ...]], ...]:
        """(name, start, stop, shape) of every tensor in ``flat``, computed once per data."""
        layout, offset = [], 0
        for name, tensor in self.tensors().items():
            layout.append((name, offset, offset + tensor.size, tensor.shape))
            offset += tensor.size
        return tuple(layout)

    def with_flat(self, theta: np.ndarray) -> CaseData:
        """A copy whose input and parameters are taken from ``theta``, in this data's dtype.

        Finite differences ask for one per point (dozens per case), so it is lean: ``theta``
        cast once into a fresh vector, each tensor a view of its own part of it."""
        fresh = theta.astype(self.dtype)
        pieces = {name: fresh[start:stop].reshape(shape) for name, start, stop, shape in self._layout}
        x = pieces.pop("input") if "input" in pieces else self.x.copy()
        return CaseData(self.case, self.params.rebuilt(pieces), x,
                        self.upstream.copy(), self.targets.copy(), self.kink_margin)

    def astype(self, dtype: str) -> CaseData:
        """The same numbers in another dtype (targets keep integer labels, an input its token indices)."""
        def cast(a):
            return None if a is None else a if a.dtype.kind == "i" else np.asarray(a, dtype=dtype)
        return CaseData(self.case, self.params.astype(dtype), cast(self.x), cast(self.upstream), cast(self.targets),
                        self.kink_margin)


def rng_for(case: Case, purpose: str) -> np.random.Generator:
    """A generator that depends only on the case's seed, its id and what it is for."""
    return np.random.default_rng([case.seed, zlib.crc32(f"{case.id}/{purpose}".encode())])
