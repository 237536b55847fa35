"""Networks as a sequence of layers: one frozen dataclass per layer kind, with its
hyper-parameters as fields, and ``SequenceSpec``, the network they make.

A layer knows the shape it maps a sample to (``out_shape``) and the shapes of its
parameters in PyTorch's layout (``param_shapes``). A network's parameters are named as
``torch.nn.Sequential`` names them: ``"0.weight"``, ``"0.bias"``, ``"3.weight"`` (the
layer's position, then the parameter); a dropout layer's keep-mask is a buffer named
``"2.mask"``. ``NamedParams`` (``cases.named_params``) holds them; gradients come back by the same names.

The MLPs of ``spec.NetworkSpec`` stay as they are: these networks are a second kind of
spec, offered only to adapters whose ``Capabilities.layers`` name every kind in them.
Imports nothing of the harness, so that ``spec`` can build the grid's cases from it.

Longer than 300 lines: one short dataclass per layer kind, the spec they make and its
parameters' names, kept together as the one place that says what a layer-sequence network is.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

from conformance.cases.named_params import NamedParams as NamedParams  # importable from here too

#: Elementwise (or last-axis) activations as layers.
ACTIVATION_KINDS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid", "softplus", "elu", "softmax",
                    "log_softmax", "gelu", "gelu_tanh")
#: Every layer kind, in the order listings show them.
LAYER_KINDS = ("dense",) + ACTIVATION_KINDS + ("dropout", "batchnorm", "layernorm", "conv2d", "maxpool2d",
                                               "avgpool2d", "flatten", "residual", "attention", "rnn", "lstm",
                                               "gru", "embedding", "multihead_attention")
#: Activations whose derivative jumps (the kink sits at zero).
KINKED_KINDS = frozenset({"relu", "leaky_relu"})
LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0
#: GELU's two conventions: ``gelu`` is x·Φ(x) (PyTorch's ``approximate="none"``), ``gelu_tanh`` is
#: ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (``approximate="tanh"``, GPT-2's).
GELU_APPROXIMATION = {"gelu": "none", "gelu_tanh": "tanh"}
NORM_EPS = 1e-5
#: The losses a layer-sequence network may carry: the MLPs' five and two more.
SEQUENCE_LOSSES = ("sse", "half_sse", "mse", "half_mse", "softmax_cross_entropy", "binary_cross_entropy", "hinge")
#: Losses whose targets are integer class labels.
LABEL_LOSSES = frozenset({"softmax_cross_entropy", "hinge"})

Shape = tuple[int, ...]


class LayerKind:
    """What every layer dataclass provides (a mixin: the dataclasses below are frozen)."""

    kind: ClassVar[str]
    #: It reads integer indices (an embedding): only as a network's first layer, never differentiated.
    takes_indices: ClassVar[bool] = False

    def out_shape(self, shape: Shape) -> Shape:
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        """Its parameters' shapes (PyTorch's layout) for a sample of ``shape``."""
        return {}

    def buffers(self, shape: Shape, batch: int) -> dict[str, Shape]:
        """Its given, never differentiated tensors at ``batch`` (a keep-mask, an initial state)."""
        return {}

    #: Its parameters the L2 penalty covers (a dense or conv2d layer's weight).
    penalised_names: ClassVar[tuple[str, ...]] = ()

    def penalised(self, shape: Shape) -> tuple[str, ...]:
        """The short names of its parameters the L2 penalty covers, for a sample of ``shape``."""
        return self.penalised_names

    @property
    def label(self) -> str:
        """The layer in a case id: its kind, and hyper-parameters that differ from the usual."""
        return self.kind

    def label_for(self, shape: Shape) -> str:
        """Its label where it takes samples of ``shape`` (batch norm of images: ``batchnorm2d``)."""
        return self.label


@dataclass(frozen=True)
class Dense(LayerKind):
    """``x @ W.T + b``, W of shape (n_out, n_in), on (batch, n_in) or on the last axis of (batch, …, n_in)."""

    n_in: int
    n_out: int
    bias: bool = True
    kind: ClassVar[str] = "dense"
    penalised_names: ClassVar[tuple[str, ...]] = ("weight",)

    def out_shape(self, shape: Shape) -> Shape:
        _expect(shape[-1:] == (self.n_in,), f"dense takes (…, {self.n_in}) per sample, got {shape}")
        return tuple(shape[:-1]) + (self.n_out,)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (self.n_out, self.n_in)} | ({"bias": (self.n_out,)} if self.bias else {})

    @property
    def label(self) -> str:
        return "dense" if self.bias else "dense.nobias"


@dataclass(frozen=True)
class Activation(LayerKind):
    """An activation as a layer: elementwise, or ``softmax``/``log_softmax`` over the last axis."""

    name: str

    def __post_init__(self) -> None:
        _expect(self.name in ACTIVATION_KINDS,
                f"unknown activation {self.name!r}; known: {', '.join(ACTIVATION_KINDS)}")

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.name

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True)
class Dropout(LayerKind):
    """Inverted dropout, ``x * mask / (1 - p)``, with the keep-mask drawn from the case's
    seed and handed over as the buffer ``"{i}.mask"`` (0/1, the input's shape)."""

    p: float = 0.25
    kind: ClassVar[str] = "dropout"

    def __post_init__(self) -> None:
        _expect(0 < self.p < 1, f"dropout p must lie in (0, 1), got {self.p}")

    def buffers(self, shape: Shape, batch: int) -> dict[str, Shape]:
        return {"mask": (batch,) + shape}

    @property
    def label(self) -> str:
        return "dropout" if self.p == 0.25 else f"dropout.p{self.p:g}"


@dataclass(frozen=True)
class BatchNorm(LayerKind):
    """Batch normalisation in training mode (batch statistics, biased variance, eps 1e-5):
    over the batch of (batch, features), or over batch and space of (batch, C, H, W)."""

    features: int
    kind: ClassVar[str] = "batchnorm"

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        _expect(shape[0] == self.features, f"batchnorm of {self.features} features got {shape}")
        return {"weight": (self.features,), "bias": (self.features,)}

    def label_for(self, shape: Shape) -> str:
        return "batchnorm2d" if len(shape) == 3 else "batchnorm"


@dataclass(frozen=True)
class LayerNorm(LayerKind):
    """Layer normalisation over the last axis (eps 1e-5), with weight and bias of its size."""

    features: int
    kind: ClassVar[str] = "layernorm"

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        _expect(shape[-1] == self.features, f"layernorm of {self.features} features got {shape}")
        return {"weight": (self.features,), "bias": (self.features,)}


@dataclass(frozen=True)
class Conv2d(LayerKind):
    """Cross-correlation on NCHW input, weight (out, in, kh, kw), bias (out,), with stride
    and zero padding (``torch.nn.functional.conv2d``)."""

    in_channels: int
    out_channels: int
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    bias: bool = True
    kind: ClassVar[str] = "conv2d"
    penalised_names: ClassVar[tuple[str, ...]] = ("weight",)

    def out_shape(self, shape: Shape) -> Shape:
        _expect(len(shape) == 3 and shape[0] == self.in_channels,
                f"conv2d takes ({self.in_channels}, H, W) per sample, got {shape}")
        return (self.out_channels,) + tuple(_window_count(n, self.kernel, self.stride, self.padding)
                                            for n in shape[1:])

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        weight = (self.out_channels, self.in_channels, self.kernel, self.kernel)
        return {"weight": weight} | ({"bias": (self.out_channels,)} if self.bias else {})

    @property
    def label(self) -> str:
        extra = (f".k{self.kernel}" if self.kernel != 3 else "") + (f".s{self.stride}" if self.stride != 1 else "") \
            + (f".p{self.padding}" if self.padding else "") + ("" if self.bias else ".nobias")
        return "conv2d" + extra


@dataclass(frozen=True)
class Pool2d(LayerKind):
    """Max or average pooling of NCHW input over ``kernel``-square windows, ``stride`` apart (the
    kernel when None), ``padding`` (≤ kernel/2) on each side: −∞ for a max, zeros for an average,
    which divides by k² everywhere, padding included (PyTorch's ``count_include_pad=True``)."""

    kernel: int = 2
    stride: int | None = None
    padding: int = 0

    @property
    def step(self) -> int:
        return self.stride or self.kernel

    def out_shape(self, shape: Shape) -> Shape:
        _expect(0 <= self.padding <= self.kernel // 2, f"{self.kind} padding must be 0..kernel/2, got {self.padding}")
        _expect(len(shape) == 3, f"{self.kind} takes (C, H, W) per sample, got {shape}")
        return (shape[0],) + tuple(_window_count(n, self.kernel, self.step, self.padding) for n in shape[1:])

    @property
    def label(self) -> str:
        return (self.kind + (f".k{self.kernel}" if self.kernel != 2 else "")
                + (f".s{self.step}" if self.step != self.kernel else "") + (f".p{self.padding}" * bool(self.padding)))


@dataclass(frozen=True)
class MaxPool2d(Pool2d):
    kind: ClassVar[str] = "maxpool2d"


@dataclass(frozen=True)
class AvgPool2d(Pool2d):
    kind: ClassVar[str] = "avgpool2d"


@dataclass(frozen=True)
class Flatten(LayerKind):
    """(batch, C, H, W) → (batch, C·H·W), C-order (``torch.flatten(x, 1)``)."""

    kind: ClassVar[str] = "flatten"

    def out_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)


def _window_count(n: int, kernel: int, stride: int, padding: int) -> int:
    count = (n + 2 * padding - kernel) // stride + 1
    _expect(count >= 1, f"a window of {kernel} does not fit {n} (padding {padding})")
    return count


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class SequenceSpec:
    """A network that is a sequence of layers, applied to samples of ``input_shape``, and
    optionally a loss with an L2 penalty ``l2/2 · Σ‖W‖²`` over the dense and conv2d weights."""

    input_shape: Shape
    layers: tuple[LayerKind, ...]
    loss: str | None = None
    l2: float = 0.0

    def __post_init__(self) -> None:
        _expect(bool(self.layers), "a network needs at least one layer")
        _expect(self.loss is None or self.loss in SEQUENCE_LOSSES,
                f"unknown loss {self.loss!r}; known: {', '.join(SEQUENCE_LOSSES)}")
        _expect(self.l2 >= 0 and (self.l2 == 0 or self.loss is not None), "an L2 penalty belongs to a loss")
        _expect(not any(layer.takes_indices for layer in self.layers[1:]),
                "an embedding reads the network's integer input: it can only be the first layer")
        self.shapes  # validates that the layers chain

    @functools.cached_property
    def shapes(self) -> tuple[Shape, ...]:
        """The per-sample shape entering each layer, and the output's last."""
        found = [tuple(self.input_shape)]
        for layer in self.layers:
            found.append(layer.out_shape(found[-1]))
        return tuple(found)

    @property
    def integer_input(self) -> bool:
        """Its input is integer token indices (it starts with an embedding): never differentiated."""
        return self.layers[0].takes_indices

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(layer.kind for layer in self.layers)

    @functools.cached_property
    def param_shapes(self) -> dict[str, Shape]:
        """Every parameter's name and shape, in layer order (``"0.weight"``, ``"0.bias"``, …)."""
        return {f"{i}.{name}": shape for i, (layer, entering) in enumerate(zip(self.layers, self.shapes))
                for name, shape in layer.param_shapes(entering).items()}

    def buffer_shapes(self, batch: int) -> dict[str, Shape]:
        """The buffers' names and shapes at ``batch`` (dropout keep-masks, recurrent initial states)."""
        return {f"{i}.{name}": shape for i, layer in enumerate(self.layers)
                for name, shape in layer.buffers(self.shapes[i], batch).items()}

    def penalised(self) -> tuple[str, ...]:
        """The parameters the L2 penalty covers: every dense and conv2d weight, those inside residual
        blocks included (as PyTorch's sum over the weights of every ``nn.Linear`` and ``nn.Conv2d``)."""
        covered = {f"{i}.{name}" for i, (layer, entering) in enumerate(zip(self.layers, self.shapes))
                   for name in layer.penalised(entering)}
        return tuple(name for name in self.param_shapes if name in covered)

    def output_shape(self, batch: int) -> Shape:
        return (batch,) + self.shapes[-1]

    def input_batch_shape(self, batch: int) -> Shape:
        return (batch,) + tuple(self.input_shape)

    @property
    def min_batch(self) -> int:
        """Batch norm of (batch, features) in training mode needs three samples: at two, the
        normalised values are ±1 whatever the input, the gradient through the norm vanishes
        and what is left of it is rounding."""
        flat_norm = any(isinstance(layer, BatchNorm) and len(shape) == 1
                        for layer, shape in zip(self.layers, self.shapes))
        return 3 if flat_norm else 1

    # ---- what the rest of the harness reads of any spec (names, report columns) ----

    @functools.cached_property
    def name(self) -> str:
        label = "-".join(layer.label_for(shape) for layer, shape in zip(self.layers, self.shapes))
        return label + (f"-l2.{self.l2:g}" if self.l2 else "")

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def bias(self) -> bool:
        return any(name.endswith(".bias") for name in self.param_shapes)

    @property
    def n_params(self) -> int:
        return sum(math.prod(shape) for shape in self.param_shapes.values())

    @property
    def sizes(self) -> tuple[int, ...]:
        """Features per sample entering each layer, and the output's."""
        return tuple(math.prod(shape) for shape in self.shapes)

    @property
    def widths_label(self) -> str:
        return ".".join(map(str, self.sizes))

    @property
    def activation_label(self) -> str:
        return "-".join(self.kinds)

    @property
    def hidden_activation(self) -> str:
        return "layers"

    @property
    def output_activation(self) -> str:
        return self.layers[-1].kind


def layer_of(tensor: str) -> int | None:
    """The layer a parameter name belongs to (``"3.weight"``, an MLP's ``"weight[3]"`` → 3), None for anything else."""
    if tensor.startswith(("weight[", "bias[")):
        return int(tensor[tensor.index("[") + 1:-1])
    head, dot, _ = tensor.partition(".")
    return int(head) if dot and head.isdigit() else None
