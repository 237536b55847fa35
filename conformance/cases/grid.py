"""The grid: which cases the suite runs. The full and quick grids (``default_grid``), the
smoke grid of the fast tests, what ``--widths``, ``--depth`` … choose (``GridChoice``,
``grid``), and random networks off the grid for the randomized checks.
"""

from __future__ import annotations

import functools
import itertools
import zlib
from dataclasses import dataclass

import numpy as np

from conformance.cases.large_grid import LARGE_MLP_BATCH, large_dtypes, large_mlps, large_sequences
from conformance.cases.layer_grid import SEQUENCE_BATCHES, sequence_specs
from conformance.cases.layers import SEQUENCE_LOSSES
from conformance.cases.spec import ACTIVATIONS, Case, DTYPES, LOSSES, Layer, NetworkSpec


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
#: Networks whose neighbouring layers differ in activation beyond an identity output (widths, then
#: each layer's activation): a tanh network with a sigmoid output, and mixed hidden activations.
#: Only there does a layer's derivative taken from the next layer's activation differ from a
#: missing derivative (the identity's is 1). VJP only, every batch and dtype.
MIXED_MLPS = (((3, 4, 4, 2), ("tanh", "tanh", "sigmoid")),
              ((3, 4, 5, 4, 2), ("tanh", "sigmoid", "relu", "sigmoid")))
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
    and one per loss (a subset of the full grid, every kind and mode included). Networks
    given as ``choice.widths`` are all taken, in every mode, quick or not. A grid is built
    once per process and choice (cases are frozen values; each caller gets its own list)."""
    try:
        return list(_grid_once(choice, seed, quick))
    except TypeError:  # a choice holding lists cannot key the cache
        return list(_built_grid(choice, seed, quick))


@functools.lru_cache(maxsize=16)
def _grid_once(choice: GridChoice, seed: int, quick: bool) -> tuple[Case, ...]:
    return _built_grid(choice, seed, quick)


def _built_grid(choice: GridChoice, seed: int, quick: bool) -> tuple[Case, ...]:
    cases = []
    for number, (hidden, output, bias) in enumerate(network_kinds()):
        shapes = _kind_shapes(hidden, output, choice)
        for mode in MODES if shapes else ():
            loss = None if mode == "vjp" else mode
            chosen = _mode_shapes(shapes, mode, number, quick, explicit=choice.widths is not None)
            for sizes, batch, dtype in itertools.product(chosen, choice.batches or BATCHES, DTYPES):
                cases.append(Case(NetworkSpec.mlp(sizes, hidden, output, bias, loss), batch, dtype, seed))
    cases += mixed_cases(choice, seed) + sequence_cases(choice, seed, quick) + large_cases(choice, seed)
    return tuple(case for case in dict.fromkeys(cases) if _kept(case, choice))


def mixed_cases(choice: GridChoice = GridChoice(), seed: int = 0) -> list[Case]:
    """The networks of ``MIXED_MLPS`` (quick grid and full alike) with biases, from an upstream
    gradient; none when the choice replaces the grid's widths or batches."""
    if choice.widths is not None or choice.batches is not None:
        return []
    specs = [NetworkSpec(tuple(Layer(n_in, n_out, act) for n_in, n_out, act in zip(sizes, sizes[1:], acts)))
             for sizes, acts in MIXED_MLPS]
    return [Case(spec, batch, dtype, seed) for spec in specs for batch in BATCHES for dtype in DTYPES]


def large_cases(choice: GridChoice = GridChoice(), seed: int = 0) -> list[Case]:
    """The large-magnitude family (``cases.large_grid``), quick grid and full alike; none when
    the choice replaces the grid's widths or batches."""
    if choice.widths is not None or choice.batches is not None:
        return []
    batched = [(NetworkSpec.mlp(sizes, hidden, output, True, loss), LARGE_MLP_BATCH)
               for sizes, hidden, output, loss in large_mlps()]
    batched += [(spec, SEQUENCE_BATCHES[-1]) for spec in large_sequences()]
    return [Case(spec, batch, dtype, seed, large=True) for spec, batch in batched for dtype in large_dtypes(spec)]


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
