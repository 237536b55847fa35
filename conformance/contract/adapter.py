"""The adapter contract: how the suite talks to an implementation under test.

An adapter is the only place that knows an implementation's own layout. It
receives the canonical layout (PyTorch's: weight ``(n_out, n_in)``, bias
``(n_out,)``, inputs ``(batch, n_in)``) and hands gradients back in it. Its
methods take and return plain NumPy arrays.

A minimal adapter::

    class MyAdapter(Adapter):
        name = "my_mlp"
        capabilities = Capabilities(activations={"tanh", "identity"})

        def build(self, spec, params):
            self.net = MyNet([w.T for w in params.weights], [b for b in params.biases])

        def forward(self, x):
            return self.net.forward(x)

        def backward(self, grad_output):
            dx, dws, dbs = self.net.backward(grad_output)
            return Gradients(dx, tuple(dw.T for dw in dws), tuple(dbs))

An implementation with its own loss also sets ``capabilities.losses`` and
implements ``loss(x, targets)``; one that has nothing but its loss declares
``vjp=False`` and may leave ``backward`` out. ``FIELD_DOCS`` says what every
``Capabilities`` field declares.
"""

from __future__ import annotations

import abc
import difflib
import functools
from dataclasses import dataclass, field
from typing import ClassVar, Mapping

import numpy as np

from conformance.cases.conventions import PYTORCH, Conventions
from conformance.cases.graph_layers import kinds_within
from conformance.cases.layers import LAYER_KINDS, SEQUENCE_LOSSES, Conv2d, Dense, SequenceSpec
from conformance.cases.spec import ACTIVATIONS, DTYPES, NetworkSpec, Params

ALL_ACTIVATIONS = frozenset(ACTIVATIONS)


@dataclass(frozen=True, eq=False)
class Gradients:
    """Gradients in the canonical layout.

    ``input`` is (batch, n_in), or None for an implementation that does not
    compute it (declared by ``Capabilities.input_gradient=False``);
    ``weights[l]`` is (n_out, n_in); ``biases[l]`` is (n_out,), or None for a
    layer without bias. A layer-sequence network's gradients come by parameter
    name instead, in ``named`` (``"0.weight"``, ``"0.bias"``, … as ``params``
    names them, each of its parameter's shape): ``Gradients(dx, named={...})``.
    """

    input: np.ndarray | None
    weights: tuple[np.ndarray, ...] = ()
    biases: tuple[np.ndarray | None, ...] = ()
    named: Mapping[str, np.ndarray | None] | None = None

    def tensors(self) -> dict[str, np.ndarray | None]:
        """Every gradient by its tensor name: ``input``, ``weight[0]``, ``bias[0]``, … (or the
        parameter names of ``named``)."""
        named: dict[str, np.ndarray | None] = {"input": self.input}
        if self.named is not None:
            return named | dict(self.named)
        for i, w in enumerate(self.weights):
            named[f"weight[{i}]"] = w
        for i, b in enumerate(self.biases):
            named[f"bias[{i}]"] = b
        return named


#: Every ``Capabilities`` field and what it declares (the README's table, the template's
#: comments and ``conformance list`` say the same).
FIELD_DOCS = {
    "activations": "hidden-layer activations it implements (identity, relu, tanh, sigmoid); a one-layer network "
                   "has no hidden layer",
    "output_activations": "activations it allows on the output layer",
    "bias": "{True}: every layer has a bias; {False}: no layer has one; {True, False}: either",
    "losses": "losses it computes itself through loss(x, targets): " + ", ".join(SEQUENCE_LOSSES)
              + " (the last two on layer-sequence networks only)",
    "vjp": "backward(grad_output) accepts any upstream gradient (False: loss cases only, and backward may be left out)",
    "min_depth": "fewest layers it builds",
    "max_depth": "most layers it builds (None: any)",
    "max_batch": "largest batch it takes (1: one sample at a time; None: any)",
    "dtypes": "dtypes it computes in (float64, float32); a float32-only implementation declares {'float32'}",
    "same_activation_everywhere": "the output layer must use the hidden layers' activation",
    "input_gradient": "it returns the gradient with respect to the input (False: Gradients.input is None, and "
                      "that row is not applicable)",
    "layers": "layer kinds it implements in a layer-sequence network (dense, relu, leaky_relu, tanh, sigmoid, "
              "softplus, elu, softmax, log_softmax, gelu, gelu_tanh, identity, dropout, batchnorm, layernorm, "
              "conv2d, maxpool2d, avgpool2d, flatten, residual, attention, multihead_attention, rnn, lstm, gru, "
              "embedding; a residual block's inner kinds count too); a network is offered when it declares every "
              "kind in it (empty: none is)",
    "penalties": "penalties its loss carries: {'l2'} for l2/2·Σ‖W‖² over the dense and conv2d weights (those "
                 "inside residual blocks too: spec.penalised())",
    "mlp": "it runs the MLPs of the grid (False: layer-sequence networks only)",
    "conventions": "the conventions it follows where correct implementations differ, as Conventions(...) "
                   "(norm eps, the losses' reductions over outputs and batch, for all or per loss, the L2 scale "
                   "and whether it is divided by the batch, eps or clip inside the cross-entropies' log); the "
                   "oracle follows them (default: PyTorch's)",
    "notes": "free text shown by conformance list",
}


@dataclass(frozen=True)
class Capabilities:
    """What an implementation can run; every field is described in ``FIELD_DOCS``. Anything
    else is reported ``not_applicable`` with the reason ``why_not`` gives (an adapter may
    refine it in ``supports``). A field name that does not exist is a ``TypeError`` that
    lists the valid ones."""

    activations: frozenset[str] = ALL_ACTIVATIONS
    output_activations: frozenset[str] = ALL_ACTIVATIONS
    bias: frozenset[bool] = frozenset({True, False})
    losses: frozenset[str] = frozenset()
    vjp: bool = True
    min_depth: int = 1
    max_depth: int | None = None
    max_batch: int | None = None
    dtypes: frozenset[str] = frozenset(DTYPES)
    same_activation_everywhere: bool = False
    input_gradient: bool = True
    layers: frozenset[str] = frozenset()
    penalties: frozenset[str] = frozenset()
    mlp: bool = True
    conventions: Conventions = PYTORCH
    notes: str = field(default="", compare=False)

    def why_not(self, spec: NetworkSpec | SequenceSpec, batch: int, dtype: str) -> str | None:
        """None when the case can run, else a one-line reason."""
        if isinstance(spec, SequenceSpec):
            return self.why_not_sequence(spec, batch, dtype)
        if not self.mlp:
            return "no MLP networks (layer-sequence networks only)"
        hidden = {layer.activation for layer in spec.layers[:-1]}
        if spec.loss is None and not self.vjp:
            return "no backward from an arbitrary upstream gradient (loss mode only)"
        if spec.loss is not None and spec.loss not in self.losses:
            have = ", ".join(sorted(self.losses)) or "none"
            return f"no {spec.loss} loss (has: {have})"
        if bad := hidden - self.activations:
            return f"no {', '.join(sorted(bad))} hidden activation"
        if spec.output_activation not in self.output_activations:
            return f"no {spec.output_activation} output activation"
        if self.same_activation_everywhere and len(hidden | {spec.output_activation}) > 1:
            return "one activation on every layer, output included"
        if any(layer.bias for layer in spec.layers) and True not in self.bias:
            return "layers have no bias"
        if any(not layer.bias for layer in spec.layers) and False not in self.bias:
            return "every layer has a bias"
        if spec.depth < self.min_depth or (self.max_depth is not None and spec.depth > self.max_depth):
            return f"depth {spec.depth} outside {self.min_depth}..{self.max_depth or 'any'}"
        if self.max_batch is not None and batch > self.max_batch:
            return f"batch {batch} above {self.max_batch} (one sample at a time)" if self.max_batch == 1 \
                else f"batch {batch} above {self.max_batch}"
        if dtype not in self.dtypes:
            return f"no {dtype}"
        return None

    def why_not_sequence(self, spec: SequenceSpec, batch: int, dtype: str) -> str | None:
        """``why_not`` for a layer-sequence network: every kind in it declared in ``layers``."""
        if not self.layers:
            return "no layer-sequence networks (declares no layer kinds)"
        if missing := [kind for kind in kinds_within(spec) if kind not in self.layers]:
            return f"no {', '.join(missing)} layer"
        if spec.loss is None and not self.vjp:
            return "no backward from an arbitrary upstream gradient (loss mode only)"
        if spec.loss is not None and spec.loss not in self.losses:
            return f"no {spec.loss} loss (has: {', '.join(sorted(self.losses)) or 'none'})"
        if spec.l2 and "l2" not in self.penalties:
            return "no L2 penalty"
        if any(isinstance(layer, (Dense, Conv2d)) and not layer.bias for layer in spec.layers) \
                and False not in self.bias:
            return "every layer has a bias"
        if self.max_batch is not None and batch > self.max_batch:
            return f"batch {batch} above {self.max_batch}"
        if dtype not in self.dtypes:
            return f"no {dtype}"
        return None

    def fields(self) -> dict[str, str]:
        """Every field's value as shown to users, in ``FIELD_DOCS`` order."""
        shown = {}
        for name in FIELD_DOCS:
            value = getattr(self, name)
            if isinstance(value, Conventions):
                shown[name] = value.declaration()
            elif isinstance(value, frozenset):
                order = (ACTIVATIONS if name.endswith("activations") else DTYPES if name == "dtypes"
                         else LAYER_KINDS if name == "layers" else None)
                items = [v for v in order if v in value] if order else sorted(value, key=str, reverse=name == "bias")
                shown[name] = "{" + ", ".join(map(repr, items)) + "}" if items else "set()"
            else:
                shown[name] = repr(value)
        return shown

    def summary(self) -> str:
        """One line for listings: what this implementation covers."""
        parts = [
            "activations " + ",".join(a for a in ACTIVATIONS if a in self.activations),
            "output " + ("same as hidden" if self.same_activation_everywhere
                         else ",".join(a for a in ACTIVATIONS if a in self.output_activations)),
            "bias " + "/".join("on" if b else "off" for b in sorted(self.bias, reverse=True)),
            "losses " + (",".join(sorted(self.losses)) or "none") + (" +vjp" if self.vjp else ""),
            f"depth {self.min_depth}..{self.max_depth or 'any'}",
            f"batch ≤{self.max_batch}" if self.max_batch else "any batch",
        ]
        parts.append("dtypes " + ",".join(d for d in DTYPES if d in self.dtypes))
        if not self.input_gradient:
            parts.append("no input gradient")
        if self.layers:
            parts.append("layers " + ",".join(k for k in LAYER_KINDS if k in self.layers)
                         + ("" if self.mlp else " (no MLPs)") + (" +l2" if "l2" in self.penalties else ""))
        if self.conventions != PYTORCH:
            parts.append("conventions: " + self.conventions.words())
        return "; ".join(parts)


def _init_naming_valid_fields(init):
    """``Capabilities(...)`` with a field name that does not exist lists the valid ones."""
    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        if unknown := [name for name in kwargs if name not in FIELD_DOCS]:
            close = difflib.get_close_matches(unknown[0], FIELD_DOCS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"Capabilities has no field {unknown[0]!r}{hint}; valid fields: {', '.join(FIELD_DOCS)}")
        init(self, *args, **kwargs)
    return checked


Capabilities.__init__ = _init_naming_valid_fields(Capabilities.__init__)


class Adapter(abc.ABC):
    """Base class of every implementation's adapter.

    The harness creates one adapter per case, calls ``build`` once, then
    ``forward`` and ``backward`` (VJP cases) or ``loss`` (loss cases), and may
    call ``forward``/``loss`` many more times with perturbed inputs and
    parameters (finite differences) after calling ``build`` again. Arrays
    passed in must not be modified; arrays returned must not alias the
    implementation's internal state that a later call overwrites.
    """

    #: Short identifier used in case ids and reports.
    name: ClassVar[str] = ""
    #: One line shown in listings and reports.
    description: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()

    def supports(self, spec: NetworkSpec | SequenceSpec, batch: int, dtype: str) -> str | None:
        """None when the case can run, else the reason it cannot (shown in the report)."""
        return self.capabilities.why_not(spec, batch, dtype)

    @abc.abstractmethod
    def build(self, spec: NetworkSpec, params: Params) -> None:
        """Build the implementation's own model from canonical parameters."""

    @abc.abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """The network's output ``(batch, n_out)`` for input ``(batch, n_in)``."""

    def backward(self, grad_output: np.ndarray) -> Gradients:
        """Gradients for the last ``forward``, given dL/d(output) ``(batch, n_out)``. Every
        adapter with ``capabilities.vjp`` (the default) implements it; a loss-only adapter
        (``vjp=False``) may leave it out."""
        raise NotImplementedError(f"{type(self).__name__} has no backward from an upstream gradient "
                                  f"(capabilities.vjp=False)")

    def loss(self, x: np.ndarray, targets: np.ndarray) -> tuple[float, Gradients]:
        """The implementation's own loss of ``forward(x)`` against ``targets`` and its
        gradients. Targets are ``(batch, n_out)`` floats, or ``(batch,)`` integer
        labels for ``softmax_cross_entropy``."""
        raise NotImplementedError(f"{type(self).__name__} computes no loss of its own")
