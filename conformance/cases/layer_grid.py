"""The grid's layer-sequence networks: every layer kind alone (the single-layer cases a
course assignment checks one function with), and small networks that compose them.

A dense or conv layer feeding a batch norm has no bias: the norm takes the mean out, so that
bias's gradient is zero, and a float32 zero is rounding noise no tolerance relative to it allows.
Sized for naive implementations (a student's convolution is four nested loops): images of
3×6×6, 3×3 kernels, batches of 2 and 3. Batch 1 is left out: batch norm in training mode
has no variance there, and 2 and 3 are no factor the diagnosis names otherwise (dropout's
1/(1−p) is 4/3 at p = 0.25). Imports nothing of the harness but the layer kinds.
"""

from __future__ import annotations

from conformance.cases.embedding import Embedding
from conformance.cases.graph_layers import Attention, MultiHeadAttention, Residual
from conformance.cases.layers import (SEQUENCE_LOSSES, Activation, AvgPool2d, BatchNorm, Conv2d, Dense, Dropout,
                                      Flatten, LayerNorm, MaxPool2d, SequenceSpec)
from conformance.cases.recurrent import GRU, LSTM, RNN

#: The batch sizes of the layer-sequence cases.
SEQUENCE_BATCHES = (2, 3)
#: The L2 penalty's strength where a case carries one.
L2 = 0.1
IMAGE = (3, 6, 6)


def _act(name: str) -> Activation:
    return Activation(name)


def single_layers() -> list[SequenceSpec]:
    """Every kind alone, on a sample shape that suits it."""
    flat = [SequenceSpec((4,), (Dense(4, 3),)), SequenceSpec((4,), (Dense(4, 3, bias=False),))]
    flat += [SequenceSpec((5,), (_act(name),)) for name in ("identity", "relu", "leaky_relu", "tanh", "sigmoid",
                                                              "softplus", "elu", "softmax", "log_softmax")]
    flat += [SequenceSpec((6,), (Dropout(),)), SequenceSpec((4,), (BatchNorm(4),)),
             SequenceSpec((5,), (LayerNorm(5),))]
    images = [SequenceSpec(IMAGE, (Conv2d(3, 4, padding=1),)), SequenceSpec(IMAGE, (Conv2d(3, 2, stride=2),)),
              SequenceSpec(IMAGE, (MaxPool2d(),)), SequenceSpec(IMAGE, (AvgPool2d(),)),
              SequenceSpec(IMAGE, (BatchNorm(3),)), SequenceSpec((3, 4, 4), (Flatten(),))]
    return flat + images


def _conv_net(*middle, loss=None, l2=0.0) -> SequenceSpec:
    """conv2d 3→4 (3×3, padding 1) on 3×6×6, ``middle`` (a 2×2 pool among it), flatten, dense 36→5."""
    return SequenceSpec(IMAGE, (Conv2d(3, 4, padding=1),) + middle + (Flatten(), Dense(36, 5)), loss, l2)


def networks() -> list[SequenceSpec]:
    """Small networks, each layer kind inside one, backpropagated from an upstream gradient."""
    return [
        _conv_net(_act("relu"), MaxPool2d()),
        SequenceSpec(IMAGE, (Conv2d(3, 4, padding=1, bias=False), BatchNorm(4), _act("relu"), AvgPool2d(),
                             Flatten(), Dense(36, 5))),
        SequenceSpec((4,), (Dense(4, 6, bias=False), BatchNorm(6), _act("relu"), Dense(6, 3))),
        SequenceSpec((4,), (Dense(4, 5), LayerNorm(5), _act("tanh"), Dense(5, 3))),
        SequenceSpec((4,), (Dense(4, 6), _act("relu"), Dropout(), Dense(6, 3))),
        SequenceSpec((4,), (Dense(4, 5), _act("leaky_relu"), Dense(5, 3), _act("softmax"))),
        SequenceSpec((4,), (Dense(4, 5), _act("elu"), Dense(5, 3), _act("log_softmax"))),
        SequenceSpec((4,), (Dense(4, 5), _act("softplus"), Dense(5, 2), _act("sigmoid"))),
    ]


def loss_networks() -> list[SequenceSpec]:
    """Networks under each loss (the two new ones among them) and the L2 penalty."""
    def mlp(act, loss, l2=0.0):
        return SequenceSpec((4,), (Dense(4, 5), _act(act), Dense(5, 3)), loss, l2)
    return [
        mlp("relu", "softmax_cross_entropy"),
        mlp("relu", "hinge"),
        mlp("tanh", "binary_cross_entropy"),
        mlp("tanh", "mse", L2),
        mlp("sigmoid", "half_sse", L2),
        SequenceSpec((4,), (Dense(4, 6, bias=False), BatchNorm(6), _act("relu"), Dense(6, 3)), "hinge", L2),
        SequenceSpec((4,), (Dense(4, 6), _act("relu"), Dropout(), Dense(6, 3)), "half_mse"),
        _conv_net(_act("relu"), MaxPool2d(), loss="softmax_cross_entropy", l2=L2),
    ]


#: Losses that are constant over a single output (softmax over one class; a hinge with no other class).
_NEED_SEVERAL_OUTPUTS = frozenset({"softmax_cross_entropy", "hinge"})


def penalised_networks() -> list[SequenceSpec]:
    """The L2 penalty under every loss, so that a declared penalty is exercised whatever the
    adapter's loss: dense networks with several outputs and (where the loss means something
    there) one, a single dense layer (a linear or logistic model), and a layer norm network."""
    acts = ("relu", "tanh", "sigmoid", "elu", "softplus", "leaky_relu", "tanh")
    out = []
    for number, loss in enumerate(SEQUENCE_LOSSES):
        # names do not show widths: the one-output network takes another activation, so ids stay distinct
        out.append(SequenceSpec((4,), (Dense(4, 5), _act(acts[number]), Dense(5, 3)), loss, L2))
        if loss not in _NEED_SEVERAL_OUTPUTS:
            out.append(SequenceSpec((4,), (Dense(4, 5), _act(acts[(number + 2) % 7]), Dense(5, 1)), loss, L2))
    out.append(SequenceSpec((4,), (Dense(4, 3),), "softmax_cross_entropy", L2))
    out.append(SequenceSpec((4,), (Dense(4, 5), LayerNorm(5), _act("tanh"), Dense(5, 3)), "hinge", L2))
    return out


def gelu_networks() -> list[SequenceSpec]:
    """GELU in both conventions, alone and in a small transformer-style network (listed last, so the
    smoke grid's choice among the networks before them stays as it was)."""
    return [SequenceSpec((5,), (_act("gelu"),)), SequenceSpec((5,), (_act("gelu_tanh"),)),
            SequenceSpec((4,), (Dense(4, 5), LayerNorm(5), _act("gelu"), Dense(5, 3))),
            SequenceSpec((4,), (Dense(4, 5), _act("gelu_tanh"), Dense(5, 3)))]


def window_networks() -> list[SequenceSpec]:
    """Overlapping pooling windows (stride < kernel: a max-pool backward that writes where it
    must add, or an average pool dividing by the wrong count, shows only there), a stride-2
    convolution inside a network, and non-square samples at every depth (a height and width
    swapped shows only there). Listed last, so the smoke grid's choice before them stays."""
    return [SequenceSpec((3, 7, 5), (MaxPool2d(3, stride=2),)),
            SequenceSpec((2, 5, 6), (AvgPool2d(3, stride=1),)),
            SequenceSpec((2, 5, 4), (MaxPool2d(2, stride=1),)),
            SequenceSpec((3, 7, 5), (Conv2d(3, 4, stride=2, padding=1), _act("relu"), MaxPool2d(2, stride=1),
                                     Flatten(), Dense(24, 5))),
            SequenceSpec((3, 7, 5), (Conv2d(3, 4, padding=1, bias=False), BatchNorm(4), _act("relu"),
                                     AvgPool2d(3, stride=2), Flatten(), Dense(24, 3))),
            SequenceSpec((2, 6, 5), (Conv2d(2, 3, padding=1), _act("tanh"), MaxPool2d(3, stride=1), Flatten(),
                                     Dense(36, 4)), "softmax_cross_entropy")]


# ---- networks that are a small graph (cases.graph_layers) ----

SEQUENCE = (3, 4)  # (seq, dim) per sample


def graph_networks() -> list[SequenceSpec]:
    """Self-attention alone (plain and causal), residual blocks alone and inside networks (a ReLU
    in the branch, a loss after it), and a two-block pre-norm transformer (listed last)."""
    attention = (LayerNorm(4), Attention(causal=True))
    mlp = (LayerNorm(4), Dense(4, 6), _act("gelu"), Dense(6, 4))
    return [SequenceSpec(SEQUENCE, (Attention(),)), SequenceSpec(SEQUENCE, (Attention(causal=True),)),
            SequenceSpec((4,), (Residual((Dense(4, 4), _act("tanh"))),)),
            SequenceSpec((4,), (Dense(4, 5), Residual((Dense(5, 6), _act("relu"), Dense(6, 5))), Dense(5, 3))),
            SequenceSpec((4,), (Dense(4, 5), Residual((LayerNorm(5), Dense(5, 5), _act("tanh"))), Dense(5, 3)),
                         "softmax_cross_entropy"),
            SequenceSpec(SEQUENCE, (Residual(attention), Residual(mlp)))]


# ---- recurrent kinds ------------------------------------------------------------------------------

#: Sequences of 3 steps of 3 features; hidden states of 4 (an RNN) or 2 (the gated kinds: 8 and 6 rows).
STEPS, FEATURES = 3, 3


def recurrent_networks() -> list[SequenceSpec]:
    """Each recurrent kind alone (every step's hidden state out) from zeros and from a given state,
    and followed by flatten and a dense layer under a loss (listed last, so the smoke grid's choice
    among the networks before them stays as it was)."""
    sample, out = (STEPS, FEATURES), []
    for kind, hidden in ((RNN, 4), (LSTM, 2), (GRU, 2)):
        out += [SequenceSpec(sample, (kind(FEATURES, hidden),)),
                SequenceSpec(sample, (kind(FEATURES, hidden, initial_state=True),)),
                SequenceSpec(sample, (kind(FEATURES, hidden, initial_state=True), Flatten(),
                                      Dense(STEPS * hidden, 3)), "softmax_cross_entropy")]
    out.append(SequenceSpec(sample, (LSTM(FEATURES, 3), LayerNorm(3), Flatten(), Dense(STEPS * 3, 2)), "mse"))
    return out


# ---- embeddings (cases.embedding) ----

#: Five tokens per sample from a vocabulary of six or seven: tokens repeat within and across samples.
TOKENS = (5,)


def embedding_networks() -> list[SequenceSpec]:
    """An embedding alone, then into a dense layer, causal attention and a GRU (listed last)."""
    return [SequenceSpec(TOKENS, (Embedding(6, 4),)), SequenceSpec(TOKENS, (Embedding(6, 4), Dense(4, 3))),
            SequenceSpec(TOKENS, (Embedding(7, 4), Attention(causal=True), Flatten(), Dense(20, 3)),
                         "softmax_cross_entropy"),
            SequenceSpec(TOKENS, (Embedding(6, 3), GRU(3, 2), Flatten(), Dense(10, 2)), "mse")]


def padded_pool_networks() -> list[SequenceSpec]:
    """Pools with padding (−∞ for a max, zeros counted in an average's k²: PyTorch's
    ``count_include_pad=True``), alone and inside networks, a tanh before the max-pool so that
    windows at the border hold only negative values (a padding taken as zeros wins there).
    Listed last, so the smoke grid's choice before them stays."""
    return [SequenceSpec((2, 5, 6), (MaxPool2d(3, stride=2, padding=1),)),
            SequenceSpec((2, 5, 4), (AvgPool2d(3, stride=1, padding=1),)),
            SequenceSpec((3, 6, 5), (Conv2d(3, 4, padding=1), _act("tanh"), MaxPool2d(3, stride=2, padding=1),
                                     Flatten(), Dense(36, 5)), "softmax_cross_entropy"),
            SequenceSpec((2, 5, 6), (Conv2d(2, 3, padding=1), _act("relu"), AvgPool2d(3, stride=2, padding=1),
                                     Flatten(), Dense(27, 4)))]


# ---- multi-head attention (cases.graph_layers.MultiHeadAttention) ----

def multihead_networks() -> list[SequenceSpec]:
    """Two-head self-attention alone (plain and causal), in a pre-norm transformer block (a residual
    around layer norm and causal attention, then one around layer norm, dense, GELU, dense) and after
    an embedding under a loss (listed last, so the smoke grid's choice among the networks before
    them stays as it was)."""
    mlp = (LayerNorm(4), Dense(4, 6), _act("gelu"), Dense(6, 4))
    return [SequenceSpec(SEQUENCE, (MultiHeadAttention(4),)),
            SequenceSpec(SEQUENCE, (MultiHeadAttention(4, causal=True),)),
            SequenceSpec(SEQUENCE, (Residual((LayerNorm(4), MultiHeadAttention(4, causal=True))), Residual(mlp))),
            SequenceSpec(TOKENS, (Embedding(7, 4), MultiHeadAttention(4, causal=True), Flatten(), Dense(20, 3)),
                         "softmax_cross_entropy")]


def residual_inside_networks() -> list[SequenceSpec]:
    """What a residual block holds that is not a parameter of the block itself: dense weights under the
    L2 penalty (every weight counts, as PyTorch's sum over the modules' weights) and a dropout's
    keep-mask (the buffer ``"1.inner.2.mask"``). Listed last, so the smoke grid's choice stays."""
    return [SequenceSpec((4,), (Dense(4, 5), Residual((Dense(5, 6), _act("relu"), Dense(6, 5))), Dense(5, 3)),
                         "mse", L2),
            SequenceSpec((4,), (Dense(4, 5), Residual((Dense(5, 5), _act("tanh"), Dropout())), Dense(5, 3)),
                         "half_mse")]


def transformer_loss_networks() -> list[SequenceSpec]:
    """The two-block pre-norm transformer under each loss a from-scratch transformer declares, its
    output flattened into a dense head: a network of transformer kinds only (dense, layer norm,
    attention, GELU, residual, flatten) that a loss case reaches. Listed last, so the smoke grid's
    choice stays."""
    attention = (LayerNorm(4), Attention(causal=True))
    mlp = (LayerNorm(4), Dense(4, 6), _act("gelu"), Dense(6, 4))
    body = (Residual(attention), Residual(mlp), Flatten(), Dense(SEQUENCE[0] * 4, 3))
    return [SequenceSpec(SEQUENCE, body, "softmax_cross_entropy"), SequenceSpec(SEQUENCE, body, "mse")]


def sequence_specs(quick: bool = False) -> list[SequenceSpec]:
    """The layer-sequence networks of the grid (``quick``: the same; their cases are few)."""
    return list(dict.fromkeys(single_layers() + networks() + loss_networks() + penalised_networks()
                             + gelu_networks() + window_networks() + graph_networks()
                             + recurrent_networks() + embedding_networks() + padded_pool_networks()
                             + multihead_networks() + residual_inside_networks() + transformer_loss_networks()))
