"""An MLP case's data, drawn from its seed: parameters of order one, an input batch kept off
the ReLU kinks, an upstream gradient and targets (``generate``); the same case always gives
the same bytes. A layer-sequence network's data is ``layer_data``'s.
"""

from __future__ import annotations

import numpy as np

from conformance.cases.activations import apply
from conformance.cases.spec import (KINK_MARGIN, KINKED_ACTIVATIONS, Case, CaseData, Layer, NetworkSpec, Params,
                                    rng_for)


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
