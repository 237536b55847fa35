"""The large-magnitude family of the grid: the networks whose last layer's values are pushed
to where naive formulas break (``cases.magnitude`` scales their data).

Softmax without subtracting the max, ``log(softmax)``, an unclipped ``log(p)``, a binary
cross-entropy written with ``log(sigmoid)``, tanh through exponentials: each is right on the
grid's order-one values and wrong past 17 (naive BCE, float32), 37 (float64), 88.7 (``exp``
overflows in float32) or 709.8 (float64). A handful of networks per kind, alone and at the
end of a network, both dtypes; they run in the quick grid too. Imports nothing of the harness
but the layer kinds.
"""

from __future__ import annotations

from conformance.cases.layers import Activation, Dense, SequenceSpec

#: The batch of the large MLP cases (the grid's batch that is no width).
LARGE_MLP_BATCH = 4
SATURATING = ("sigmoid", "tanh")


def large_dtypes(spec) -> tuple[str, ...]:
    """The dtypes a large case of ``spec`` runs in. A saturated sigmoid or tanh output has a
    vanishing gradient that float32 computes as a few ulps of ``1 − a²``; behind a layer whose
    weights were scaled up, those ulps grow a hundredfold, past any tolerance relative to a
    gradient that is nearly zero, in a correct implementation too. So a saturating output
    behind parameters runs in float64 only; alone, in both."""
    if spec.output_activation in SATURATING and spec.n_params:
        return ("float64",)
    return ("float64", "float32")


def large_mlps() -> list[tuple[tuple[int, ...], str, str, str | None]]:
    """(widths, hidden activation, output activation, loss) of the large MLP cases: saturated
    sigmoid and tanh outputs, and every loss on large logits."""
    return [((3, 4, 3), "sigmoid", "sigmoid", None), ((3, 4, 3), "tanh", "tanh", None),
            ((3, 4, 3), "tanh", "identity", "softmax_cross_entropy"),
            ((4, 5, 5, 3), "relu", "identity", "softmax_cross_entropy"),
            ((3, 4, 2), "tanh", "identity", "mse"), ((3, 4, 2), "relu", "identity", "half_sse"),
            ((3, 4, 3), "sigmoid", "sigmoid", "half_mse"), ((3, 4, 3), "tanh", "tanh", "sse")]


def _net(last: str | None = None, loss: str | None = None, hidden: str = "tanh") -> SequenceSpec:
    """dense 4→5, ``hidden``, dense 5→3, then ``last`` (an activation) or nothing, under ``loss``."""
    tail = (Activation(last),) if last else ()
    return SequenceSpec((4,), (Dense(4, 5), Activation(hidden), Dense(5, 3)) + tail, loss)


def large_sequences() -> list[SequenceSpec]:
    """Softmax, log-softmax, sigmoid and tanh alone and at the end of a network, and the losses
    of large logits (cross-entropies with probabilities near 0 and 1)."""
    alone = [SequenceSpec((5,), (Activation(name),)) for name in ("softmax", "log_softmax", "sigmoid", "tanh")]
    ends = [_net("softmax", hidden="relu"), _net("log_softmax"), _net("sigmoid"), _net("tanh", hidden="relu")]
    losses = [_net(loss="softmax_cross_entropy"), _net(loss="binary_cross_entropy", hidden="relu"),
              _net(loss="hinge"), _net(loss="mse"), _net("log_softmax", loss="half_sse")]
    return alone + ends + losses
