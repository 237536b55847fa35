"""Network specifications, test cases, their deterministic data, and the default grid.

A ``NetworkSpec`` says what network to build (layer sizes, activations, bias, an
optional loss). A ``Case`` adds a batch size, a dtype and a seed. ``generate``
turns a case into ``CaseData``: parameters in the canonical (PyTorch) layout,
an input batch, an upstream gradient and targets. The same case always gives
the same bytes.

Longer than 300 lines: the case model, its data generation and the grid stay together
because the grid's choices (widths, kinds, batch) and the data's margins are one set of
decisions about what a case is.
"""

from __future__ import annotations

import functools
import itertools
import zlib
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from conformance.cases.activations import apply
from conformance.cases.layer_grid import SEQUENCE_BATCHES, sequence_specs
from conformance.cases.layers import SEQUENCE_LOSSES, SequenceSpec

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
        """``tanh`` when every layer uses tanh, ``tanh-identityout`` when the output differs."""
        hidden = {layer.activation for layer in self.layers[:-1]} or {self.output_activation}
        label = "+".join(sorted(hidden))
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
        return f"{self.spec.name}-b{self.batch}-{self.dtype}-{self.mode}"


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

    def tensors(self) -> dict[str, np.ndarray]:
        """The differentiable tensors by name, in the order of ``flat``: input, weights, biases."""
        return {"input": self.x} | self.params.named()

    def flat(self) -> np.ndarray:
        """Input, weights and biases as one float64 vector (what finite differences perturb).

        Built once per data and shared, hence read-only: on a large network every
        probe asking for a fresh copy would cost as much as the forward it serves.
        """
        cached = self.__dict__.get("_flat")
        if cached is None:
            cached = np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in self.tensors().values()])
            cached.flags.writeable = False
            object.__setattr__(self, "_flat", cached)
        return cached

    def __getstate__(self) -> dict:
        """Pickled without the cached flat vector (a worker builds its own when it needs it)."""
        return {key: value for key, value in self.__dict__.items() if key not in ("_flat", "_layout_cache")}

    def _layout(self) -> tuple[tuple[str, int, int, tuple[int, ...]], ...]:
        """(name, start, stop, shape) of every tensor in ``flat``, computed once per data."""
        cached = self.__dict__.get("_layout_cache")
        if cached is None:
            cached, offset = [], 0
            for name, tensor in self.tensors().items():
                cached.append((name, offset, offset + tensor.size, tensor.shape))
                offset += tensor.size
            cached = tuple(cached)
            object.__setattr__(self, "_layout_cache", cached)
        return cached

    def with_flat(self, theta: np.ndarray) -> CaseData:
        """A copy whose input and parameters are taken from ``theta``, in this data's dtype."""
        dtype = self.x.dtype
        pieces = {name: np.asarray(theta[start:stop], dtype=dtype).reshape(shape)
                  for name, start, stop, shape in self._layout()}
        x = pieces.pop("input")
        return CaseData(self.case, self.params.rebuilt(pieces), x,
                        self.upstream.copy(), self.targets.copy(), self.kink_margin)

    def astype(self, dtype: str) -> CaseData:
        """The same numbers in another dtype (targets keep integer labels)."""
        def cast(a):
            return None if a is None else np.asarray(a, dtype=dtype)
        targets = self.targets if self.targets.dtype.kind == "i" else cast(self.targets)
        return CaseData(self.case, self.params.astype(dtype), cast(self.x), cast(self.upstream), targets,
                        self.kink_margin)


def rng_for(case: Case, purpose: str) -> np.random.Generator:
    """A generator that depends only on the case's seed, its id and what it is for."""
    return np.random.default_rng([case.seed, zlib.crc32(f"{case.id}/{purpose}".encode())])


def generate(case: Case) -> CaseData:
    """Draw the case's parameters, input, upstream gradient and targets.

    Parameters come from a scaled normal draw so that pre-activations are of
    order one (no saturated tanh or sigmoid). Where the network has a ReLU,
    every ReLU layer must have a unit switched on for each input row and every
    ReLU pre-activation must keep ``KINK_MARGIN`` from zero, so the gradients
    are not trivially zero and finite differences never straddle a kink. A
    network with few ReLU units per row gets there by redrawing
    (``_drawn_until_kept``); a wider one, where a random row keeps the margin
    too rarely for redrawing to end, by moving the weights of the units that
    come too close (``_moved_off_kinks``), at the cost of about two forward
    passes. Either way the margin actually achieved is recorded.
    """
    spec, dtype = case.spec, np.dtype(case.dtype)
    rng = rng_for(case, "data")
    if kinked_units_per_row(spec) > REDRAWN_UP_TO_KINKED_UNITS:
        params, x = _moved_off_kinks(spec, rng, dtype, case.batch)
    else:
        params, x = _drawn_until_kept(spec, rng, dtype, case.batch)
    upstream = rng.standard_normal((case.batch, spec.layers[-1].n_out)).astype(dtype)
    if spec.loss == "softmax_cross_entropy":
        targets = rng.integers(0, spec.layers[-1].n_out, size=case.batch)
    else:
        targets = rng.standard_normal((case.batch, spec.layers[-1].n_out)).astype(dtype)
    margin = kink_margin(spec, params, x)
    return CaseData(case, params, x, upstream, targets, margin)


#: ReLU units per input row up to which data is redrawn until it keeps the margin. A
#: unit comes within ``KINK_MARGIN`` of its kink about 3% of the time, so a row keeps
#: the margin with probability about 0.97^units: 0.4 at 30 units (the most any
#: network of the grid or of ``random_cases`` has), 0.01 at 140, 10^-20 at 1400
#: (703 → 703 → 703 → 10), where every row took its 200 draws and every parameter
#: draw was tried, 35 s for a 10^6-parameter network. Wider networks move weights
#: instead (``_moved_off_kinks``); the networks up to this bound keep their data.
REDRAWN_UP_TO_KINKED_UNITS = 32


def kinked_units_per_row(spec: NetworkSpec) -> int:
    """The pre-activations of one input row that sit before a kink."""
    return sum(layer.n_out for layer in spec.layers if layer.activation in KINKED_ACTIVATIONS)


def _drawn_until_kept(spec: NetworkSpec, rng: np.random.Generator, dtype: np.dtype,
                      batch: int) -> tuple[Params, np.ndarray]:
    """Input rows redrawn until every ReLU layer has a unit switched on for that row and
    every ReLU pre-activation keeps ``KINK_MARGIN`` from zero; if no such row turns up in
    a bounded number of draws, the parameters are drawn again (``PARAMETER_DRAWS`` times
    at most), and in the end the best rows are kept."""
    best = None
    for _ in range(PARAMETER_DRAWS):
        params = _draw_params(spec, rng, dtype)
        rows, scores = zip(*(_draw_input_row(spec, params, rng, dtype) for _ in range(batch)))
        x, score = np.stack(rows), min(scores)
        if best is None or score > best[0]:
            best = score, params, x
        if score == (True, KINK_MARGIN):
            break
    return best[1], best[2]


def _moved_off_kinks(spec: NetworkSpec, rng: np.random.Generator, dtype: np.dtype,
                     batch: int) -> tuple[Params, np.ndarray]:
    """One draw of parameters and input, then, layer by layer from the input up, each ReLU
    layer's units that come within ``KINK_MARGIN`` of the kink (or leave a row with no
    unit switched on) moved off it (``_kept_off_kink``); the layers above see the moved
    layer's output. The cost: two forward passes and one small pseudo-inverse per layer."""
    params = _draw_params(spec, rng, dtype)
    x = rng.standard_normal((batch, spec.layers[0].n_in)).astype(dtype)
    weights, biases = list(params.weights), list(params.biases)
    a = np.asarray(x, dtype=np.float64)
    for i, layer in enumerate(spec.layers):
        if layer.activation in KINKED_ACTIVATIONS:
            weights[i], biases[i], z = _kept_off_kink(a, weights[i], biases[i], dtype)
        else:
            z = a @ np.asarray(weights[i], dtype=np.float64).T
            if biases[i] is not None:
                z += np.asarray(biases[i], dtype=np.float64)
        a = apply(layer.activation, z)
    return Params(tuple(weights), tuple(biases)), x


#: How far ``_kept_off_kink`` moves a pre-activation that was too close, in margins (the
#: excess absorbs the rounding of the moved weights to the case's dtype), and how many
#: times it tries again on what rounding or a least-squares fit left too close.
MOVED_TO_MARGINS, MOVES = 1.5, 3


def _kept_off_kink(a: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                   dtype: np.dtype) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The layer's weights and bias changed, as little as possible, so that every
    pre-activation ``a @ weight.T + bias`` keeps ``KINK_MARGIN`` from zero and every row
    has a unit switched on.

    A unit's pre-activations over the batch are ``A @ (w, b)`` with ``A = [a, 1]``; the
    smallest change of ``(w, b)`` that moves the ones too close to ``±MOVED_TO_MARGINS *
    KINK_MARGIN`` (on their own side) and leaves the others where they are is
    ``pinv(A) @ change``, exact while the batch is no larger than the layer's inputs.
    Only the units that need it change (and only their pre-activations are computed
    again); with a larger batch the least-squares change may fall short, and the margin
    recorded says what was achieved. Returns the weight, the bias and the pre-activations.
    """
    free = a if bias is None else np.hstack([a, np.ones((a.shape[0], 1))])
    inverse = np.linalg.pinv(free)
    # A freshly drawn weight: in float64 moved in place, no copy of the layer's weight.
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    z = a @ w.T + (0.0 if b is None else b)
    for _ in range(MOVES):
        change = _change_off_kink(z)
        units = np.flatnonzero(np.any(change != 0, axis=0))
        if not units.size:
            break
        step = inverse @ change[:, units]
        w[units] = (w[units] + step[:a.shape[1]].T).astype(dtype)
        if b is not None:
            b[units] = (b[units] + step[-1]).astype(dtype)
        z[:, units] = a @ w[units].T + (0.0 if b is None else b[units])
    return w.astype(dtype, copy=False), None if b is None else b.astype(dtype, copy=False), z


def _change_off_kink(z: np.ndarray) -> np.ndarray:
    """Per pre-activation, how far to move it: those within ``KINK_MARGIN`` of zero to
    ``MOVED_TO_MARGINS`` margins on their own side (zero counts as positive), and, in a row
    with no unit switched on, its largest unit to that far above zero; the others 0."""
    goal = MOVED_TO_MARGINS * KINK_MARGIN
    change = np.where(np.abs(z) < KINK_MARGIN, np.where(z >= 0, goal, -goal) - z, 0.0)
    dead = np.flatnonzero(~np.any(z + change > 0, axis=1))
    top = np.argmax(z[dead], axis=1)
    change[dead, top] = goal - z[dead, top]
    return change


#: Parameter draws tried for a ReLU network before one whose every input row can
#: switch on a unit in every ReLU layer and keep the margin is given up on (the
#: best one is kept).
PARAMETER_DRAWS = 20


def _draw_params(spec: NetworkSpec, rng: np.random.Generator, dtype: np.dtype) -> Params:
    weights = tuple(_scaled_normal(rng, layer, dtype) for layer in spec.layers)
    biases = tuple(
        (0.5 * rng.standard_normal(layer.n_out)).astype(dtype) if layer.bias else None for layer in spec.layers
    )
    return Params(weights, biases)


def _scaled_normal(rng: np.random.Generator, layer: Layer, dtype: np.dtype) -> np.ndarray:
    """A weight of normal entries times 1.2 / sqrt(n_in), scaled in place and, in float64, not
    copied to cast: one array of the weight's size (the same numbers as a scaled copy)."""
    weight = rng.standard_normal((layer.n_out, layer.n_in))
    weight *= 1.2 / np.sqrt(layer.n_in)
    return weight.astype(dtype, copy=False)


def _draw_input_row(spec: NetworkSpec, params: Params, rng: np.random.Generator,
                    dtype: np.dtype) -> tuple[np.ndarray, tuple[bool, float]]:
    """An input row and its ``_row_score`` (the best score, without kinks: nothing to score)."""
    row = rng.standard_normal(spec.layers[0].n_in).astype(dtype)
    if not any(layer.activation in KINKED_ACTIVATIONS for layer in spec.layers):
        return row, (True, KINK_MARGIN)
    best, best_score = row, _row_score(spec, params, row)
    for _ in range(200):
        if best_score == (True, KINK_MARGIN):
            break
        row = rng.standard_normal(spec.layers[0].n_in).astype(dtype)
        score = _row_score(spec, params, row)
        if score > best_score:
            best, best_score = row, score
    return best, best_score


def _row_score(spec: NetworkSpec, params: Params, row: np.ndarray) -> tuple[bool, float]:
    """How good an input row is for a network with kinks: first, whether every ReLU layer
    has a unit switched on (a row that leaves a layer dead makes the gradients below it
    zero, and a zero checks nothing); then its margin from the kinks, up to ``KINK_MARGIN``."""
    zs = preactivations(spec, params, row[None, :])
    kinked = [z for layer, z in zip(spec.layers, zs) if layer.activation in KINKED_ACTIVATIONS]
    live = all((z > 0).any() for z in kinked)
    return live, min([float(np.abs(z).min()) for z in kinked] + [KINK_MARGIN])


def preactivations(spec: NetworkSpec, params: Params, x: np.ndarray) -> list[np.ndarray]:
    """Each layer's pre-activation ``a @ W.T + b`` in float64 (for kink bookkeeping)."""
    out, a = [], np.asarray(x, dtype=np.float64)
    for layer, w, b in zip(spec.layers, params.weights, params.biases):
        z = a @ np.asarray(w, dtype=np.float64).T
        if b is not None:
            z = z + np.asarray(b, dtype=np.float64)
        out.append(z)
        a = apply(layer.activation, z)
    return out


def kink_margin(spec: NetworkSpec, params: Params, x: np.ndarray) -> float:
    """Smallest |pre-activation| over the layers whose activation has a kink."""
    zs = preactivations(spec, params, x)
    kinked = [np.abs(z).min() for layer, z in zip(spec.layers, zs) if layer.activation in KINKED_ACTIVATIONS]
    return float(min(kinked)) if kinked else float("inf")


#: The batch sizes of the grid: one sample, and a batch that is no layer width of the
#: grid (so a gradient off by the batch size cannot pass for one off by the number of
#: outputs or of hidden units).
BATCHES = (1, 4)
#: What a case differentiates: ``vjp`` (backward from an upstream gradient) or a loss.
MODES = ("vjp",) + LOSSES
#: Every mode a case may have: the MLPs' and the losses only layer-sequence networks carry.
ALL_MODES = ("vjp",) + SEQUENCE_LOSSES

#: The grid's networks by depth, each as its layer widths, input first. Each depth has
#: widths that differ from layer to layer (a gradient in the wrong layout has the wrong
#: shape), networks of equal hidden widths and square ones (where a transposed weight or
#: one layer's quantity used for another's has the right shape and only its values can
#: tell), and output widths 1, 2, 3 and 5 (a bug that depends on the number of outputs
#: shows at several; 4, the batch, is left out). The first two of a depth go first into
#: the quick grid.
SHAPES = {
    1: ((3, 1), (5, 5), (4, 3), (2, 5), (5, 2), (3, 3), (1, 3)),
    2: ((3, 4, 1), (5, 5, 5), (4, 5, 3), (3, 5, 2), (2, 3, 3), (4, 4, 1), (5, 3, 5), (3, 2, 3)),
    3: ((3, 5, 5, 1), (5, 5, 5, 5), (4, 3, 5, 3), (3, 4, 4, 3), (2, 5, 3, 1), (4, 4, 4, 2), (3, 3, 3, 5),
        (5, 2, 4, 3)),
    4: ((3, 4, 4, 4, 3), (5, 5, 5, 5, 5), (2, 5, 3, 4, 3), (4, 3, 3, 3, 3), (3, 4, 4, 4, 1), (4, 5, 5, 5, 2),
        (3, 2, 4, 5, 3), (5, 4, 3, 2, 5)),
}
#: Networks per loss and network kind (the VJP cases take every network).
LOSS_SHAPES = 5
#: Networks of the quick grid per network kind: VJP cases, and each loss's.
QUICK_VJP_SHAPES, QUICK_LOSS_SHAPES = 6, 1


@dataclass(frozen=True)
class GridChoice:
    """What a user narrows or replaces in the grid (``conformance run --depth 2,3`` …).

    ``widths`` replaces the grid's networks (every network kind on each, for every
    mode); ``batches`` replaces its batch sizes; ``depths``, ``dtypes``, ``modes``
    (``vjp`` and loss names) and ``activations`` (of the hidden layers, or of the only
    layer) keep the cases that match, so that without ``widths`` and ``batches`` the
    cases are a part of the default grid. None keeps the grid's own.
    """

    widths: tuple[tuple[int, ...], ...] | None = None
    batches: tuple[int, ...] | None = None
    depths: tuple[int, ...] | None = None
    dtypes: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    activations: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name, known in (("dtypes", DTYPES), ("modes", ALL_MODES), ("activations", ACTIVATIONS)):
            chosen = getattr(self, name)
            if chosen is not None and (bad := [v for v in chosen if v not in known]):
                raise ValueError(f"unknown {name[:-1]} {', '.join(map(repr, bad))}; known: {', '.join(known)}")
        for name in ("batches", "depths"):
            if (chosen := getattr(self, name)) is not None and any(v < 1 for v in chosen):
                raise ValueError(f"{name} must be positive whole numbers, got {', '.join(map(str, chosen))}")
        if self.widths is not None and any(len(w) < 2 or min(w) < 1 for w in self.widths):
            raise ValueError("a network's widths are at least two positive numbers, input first, e.g. 3-5-5-1")

    @property
    def default(self) -> bool:
        return self == GridChoice()


def network_kinds() -> list[tuple[str, str, bool]]:
    """(hidden activation, output activation, bias) of the grid's network kinds: every
    activation, its output layer the same or the identity (as most losses expect), with
    biases on every layer or on none."""
    kinds = [(a, out) for a in ACTIVATIONS for out in dict.fromkeys((a, "identity"))]
    return [(a, out, bias) for a, out in kinds for bias in (True, False)]


def _kind_shapes(hidden: str, output: str, choice: GridChoice) -> list[tuple[int, ...]]:
    """The networks of one kind, depths interleaved (1, 2, 3, 4, 1, 2, …). A one-layer
    network has no hidden layer: it belongs to the kinds whose activation is its own."""
    if choice.widths is not None:
        shapes = list(choice.widths)
    else:
        shapes = [s for row in itertools.zip_longest(*SHAPES.values()) for s in row if s is not None]
    return [s for s in shapes if hidden == output or len(s) > 2]


def _kept(case: Case, choice: GridChoice) -> bool:
    """Whether a case of the grid passes the choice's filters."""
    return ((choice.depths is None or case.spec.depth in choice.depths)
            and (choice.dtypes is None or case.dtype in choice.dtypes)
            and (choice.modes is None or case.mode in choice.modes)
            and (choice.activations is None or case.spec.hidden_activation in choice.activations))


def _loss_shapes(shapes: list[tuple[int, ...]], loss: str, kind: int, quick: bool) -> list[tuple[int, ...]]:
    """The networks one loss takes in one network kind: ``LOSS_SHAPES`` of the kind's, a
    different window for every loss and kind. Softmax over one output is constant, so
    cross-entropy takes 3 outputs where a network has 1."""
    start = 7 * kind + LOSSES.index(loss) * LOSS_SHAPES  # 7: prime to the 31 and 24 networks of a kind
    window = [shapes[(start + j) % len(shapes)] for j in range(min(LOSS_SHAPES, len(shapes)))]
    if quick:  # the first, and a two-layer one (a course exercise's network, often its only depth)
        window = window[:QUICK_LOSS_SHAPES] + [s for s in window if len(s) == 3][:1]
    if loss == "softmax_cross_entropy":
        window = [s[:-1] + (3,) if s[-1] == 1 else s for s in window]
    return list(dict.fromkeys(window))


def grid(choice: GridChoice = GridChoice(), seed: int = 0, quick: bool = False) -> list[Case]:
    """The cases of a grid: for every network kind (``network_kinds``), VJP cases on each
    of its networks and each loss on ``LOSS_SHAPES`` of them, every one at every batch
    size and dtype. ``quick`` keeps the first ``QUICK_VJP_SHAPES`` networks for the VJP
    and one per loss, and a two-layer one (a subset of the full grid, every kind and mode included). Networks
    given as ``choice.widths`` are all taken, in every mode, quick or not."""
    cases = []
    for number, (hidden, output, bias) in enumerate(network_kinds()):
        shapes = _kind_shapes(hidden, output, choice)
        for mode in MODES if shapes else ():
            loss = None if mode == "vjp" else mode
            chosen = _mode_shapes(shapes, mode, number, quick, explicit=choice.widths is not None)
            for sizes, batch, dtype in itertools.product(chosen, choice.batches or BATCHES, DTYPES):
                cases.append(Case(NetworkSpec.mlp(sizes, hidden, output, bias, loss), batch, dtype, seed))
    return [case for case in dict.fromkeys(cases + sequence_cases(choice, seed, quick)) if _kept(case, choice)]


def sequence_cases(choice: GridChoice = GridChoice(), seed: int = 0, quick: bool = False) -> list[Case]:
    """The layer-sequence networks' cases (``cases.layer_grid``) at every batch and dtype; none
    when the choice narrows widths, batches, depths or activations, which describe MLPs."""
    if any(v is not None for v in (choice.widths, choice.batches, choice.depths, choice.activations)):
        return []
    batches = SEQUENCE_BATCHES[-1:] if quick else SEQUENCE_BATCHES
    return [Case(spec, batch, dtype, seed) for spec in sequence_specs(quick)
            for batch in batches if batch >= spec.min_batch for dtype in DTYPES]


def _mode_shapes(shapes: list[tuple[int, ...]], mode: str, kind: int, quick: bool,
                 explicit: bool) -> list[tuple[int, ...]]:
    """The networks of one kind that one mode takes."""
    if explicit:
        return shapes
    if mode == "vjp":
        return shapes[:QUICK_VJP_SHAPES] if quick else shapes
    return _loss_shapes(shapes, mode, kind, quick)


def default_grid(seed: int = 0, quick: bool = False) -> list[Case]:
    """The grid every implementation is run over (``grid`` with nothing narrowed)."""
    return grid(GridChoice(), seed, quick)


def smoke_grid(seed: int = 0) -> list[Case]:
    """A small part of the quick grid for a test suite's inner loop: for every network kind
    and mode one network (the kind's networks taken in turn, so every depth and both batch
    sizes appear), and every third layer-sequence network plus those a layer kind needs
    to appear; each in both dtypes."""
    groups: dict[tuple, list[tuple]] = {}
    for case in default_grid(seed, quick=True):
        spec = case.spec
        key = ((spec.hidden_activation, spec.output_activation, spec.bias, case.mode)
               if isinstance(spec, NetworkSpec) else ("sequence",))
        networks = groups.setdefault(key, [])
        if (spec, case.batch) not in networks:
            networks.append((spec, case.batch))
    sequences = groups.pop(("sequence",), [])
    kept = {networks[number % len(networks)] for number, networks in enumerate(groups.values())}
    kinds: set[str] = set()
    for number, (spec, batch) in enumerate(sequences):  # every layer kind, and a third of the networks
        if number % 3 == 0 or not {layer.kind for layer in spec.layers} <= kinds:
            kept.add((spec, batch))
            kinds |= {layer.kind for layer in spec.layers}
    return [case for case in default_grid(seed, quick=True) if (case.spec, case.batch) in kept]


def random_cases(count: int, seed: int = 0) -> list[Case]:
    """``count`` cases drawn from ``seed``, far off the grid's fixed shapes: depth 1 to 4,
    widths 1 to 8 (output 2 to 6), every hidden activation with a random output one
    (often the identity), bias on or off, batch 1 or 2 to 8, float32 or float64, the
    VJP or any loss. The same ``count`` and ``seed`` give the same cases; each case
    gets its own data seed, so cases with equal ids still differ."""
    rng = np.random.default_rng([seed, zlib.crc32(b"random_cases")])
    modes = (None,) + LOSSES
    cases = []
    for i in range(count):
        depth = int(rng.integers(1, 5))
        sizes = [int(n) for n in rng.integers(1, 9, size=depth)] + [int(rng.integers(2, 7))]
        hidden = str(rng.choice(ACTIVATIONS))
        output = str(rng.choice((hidden, "identity", str(rng.choice(ACTIVATIONS)))))
        spec = NetworkSpec.mlp(sizes, hidden, output, bool(rng.integers(2)), modes[int(rng.integers(len(modes)))])
        batch = 1 if rng.integers(2) else int(rng.integers(2, 9))
        cases.append(Case(spec, batch, str(rng.choice(DTYPES)), seed=seed * 1_000_003 + i))
    return cases
