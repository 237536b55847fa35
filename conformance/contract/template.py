"""The adapter template ``conformance new PATH`` writes: a commented adapter file that
runs as soon as its lines marked ``FILL IN`` match the user's implementation.

As written, the marked lines plug in a typical course-style network: a class
``Network(weights, biases, activations)`` in ``my_network.py`` next to the
adapter, storing weights as ``(n_in, n_out)`` and biases as ``(1, n_out)``, with
``forward(x)`` and ``backward(grad_output) -> (grad_x, grad_weights, grad_biases)``.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from conformance.cases.layers import SEQUENCE_LOSSES

TEMPLATE = '''\
"""Adapter that plugs {title} into the backprop conformance suite.

Check it:   conformance check {path}

Fill in the lines marked FILL IN; the rest can stay as it is. The contract in
short: the suite gives you parameters in PyTorch's layout (weights[l] is
(n_out, n_in), biases[l] is (n_out,) or None) and inputs x of shape
(batch, n_in); you give back the output (batch, n_out) and the gradients in
that same layout. Translate (transpose, reshape) here, never in your own code.
"""

from conformance import Adapter, Capabilities, Conventions, Gradients

from my_network import Network  # FILL IN: import your implementation (or paste it above this class)


class {class_name}(Adapter):
    name = "{name}"
    description = "{title}, checked by its adapter"
    # What your implementation can run: keep the names it supports. Every other case
    # of the suite is reported "not applicable" with the reason, never as passed.
    # Every field is listed with its default; `conformance list` describes them too.
    capabilities = Capabilities(
        activations={{"identity", "relu", "tanh", "sigmoid"}},  # on hidden layers
        output_activations={{"identity", "relu", "tanh", "sigmoid"}},  # on the output layer
        bias={{True, False}},  # {{True}}: every layer has a bias; {{False}}: no layer has one
        losses=set(),  # e.g. {{"mse"}} when your code computes its own loss; then fill in loss() below
        vjp=True,  # backward(grad_output) takes any upstream gradient; False: loss only (then backward may go)
        min_depth=1,  # fewest layers your code builds
        max_depth=None,  # most layers (None: any)
        max_batch=None,  # largest batch (1: one sample at a time; None: any)
        dtypes={{"float64", "float32"}},  # {{"float32"}} when your code computes in float32 only
        same_activation_everywhere=False,  # True: the output layer must use the hidden layers' activation
        input_gradient=True,  # False when backward does not compute the input's gradient (return None for it)
        layers=set(),  # layer kinds of layer-sequence networks it implements, e.g. {{"dense", "relu", "conv2d"}}
        penalties=set(),  # {{"l2"}} when its loss carries the L2 penalty l2/2·Σ‖W‖²
        mlp=True,  # False when it runs layer-sequence networks only
        # an mse summed over the outputs: Conventions(loss_reductions={{"mse": ("sum", "mean")}}); λ/2m·Σ‖W‖²:
        # Conventions(l2_per_batch=True); the fields: docs/adapter.md, "Conventions"
        conventions=Conventions(),  # where its constants differ from PyTorch's, e.g. Conventions(layernorm_eps=1e-8)
        notes="",  # shown by `conformance list`
    )
    # For anything the fields cannot say, refine which cases apply (None: it runs; else the
    # reason, shown in the report):
    #
    # def supports(self, spec, batch, dtype):
    #     return super().supports(spec, batch, dtype)

    def build(self, spec, params):
        """Make your model from the suite's parameters. spec.layers[l] has n_in, n_out,
        activation ("identity", "relu", "tanh" or "sigmoid") and bias (True/False)."""
        weights = [w.T for w in params.weights]  # FILL IN: (n_out, n_in) -> your layout, here (n_in, n_out)
        biases = [None if b is None else b.reshape(1, -1) for b in params.biases]  # FILL IN: here (1, n_out)
        self.net = Network(weights, biases, [layer.activation for layer in spec.layers])  # FILL IN

    def forward(self, x):
        """x: (batch, n_in) -> output (batch, n_out)."""
        return self.net.forward(x)

    def backward(self, grad_output):
        """grad_output is dL/d(output), (batch, n_out), for the last forward. Return the
        gradient of the input and of every weight and bias, first layer first."""
        grad_x, grad_weights, grad_biases = self.net.backward(grad_output)  # FILL IN
        return Gradients(
            input=grad_x,  # (batch, n_in)
            weights=tuple(g.T for g in grad_weights),  # FILL IN: your layout -> (n_out, n_in)
            biases=tuple(None if g is None else g.reshape(-1) for g in grad_biases),  # -> (n_out,)
        )

    # Only when capabilities.losses names a loss your code computes itself
    # ({losses};
    # the last two on layer-sequence networks only):
    #
    # def loss(self, x, targets):
    #     """targets: (batch, n_out) floats, or (batch,) integer labels for softmax_cross_entropy.
    #     Return (the loss value, Gradients) of your own loss of forward(x)."""
    #     value, grad_output = self.net.loss(self.forward(x), targets)
    #     return value, self.backward(grad_output)
'''


class TemplateError(Exception):
    """The template cannot be written there; the message is one line for the user."""


def identifiers(path: Path) -> dict[str, str]:
    """The adapter's ``name`` and class name, from the file name."""
    stem = re.sub(r"\W+", "_", path.stem).strip("_") or "my_implementation"
    if stem[0].isdigit() or keyword.iskeyword(stem):
        stem = f"impl_{stem}"
    class_name = "".join(part[0].upper() + part[1:] for part in stem.split("_") if part)
    if not class_name.endswith("Adapter") or class_name == "Adapter":  # my_adapter.py: MyAdapter, not MyAdapterAdapter
        class_name += "Adapter"
    return {"name": stem, "class_name": class_name, "title": stem.replace("_", " ")}


def render(path: Path) -> str:
    losses = ", ".join(f'"{name}"' for name in SEQUENCE_LOSSES)
    return TEMPLATE.format(path=path, losses=losses, **identifiers(path))


def write(path: Path | str) -> Path:
    """Write the template to ``path`` (a new ``.py`` file; its folder is created if needed)."""
    path = Path(path)
    if path.suffix != ".py":
        raise TemplateError(f"{path}: the adapter file must end in .py")
    if path.exists():
        raise TemplateError(f"{path} already exists; not overwriting it (choose another name)")
    if path.parent.exists() and not path.parent.is_dir():
        raise TemplateError(f"cannot write {path}: {path.parent} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as file:
            file.write(render(path))
    except FileExistsError:
        raise TemplateError(f"{path} already exists; not overwriting it (choose another name)") from None
    except OSError as error:
        raise TemplateError(f"cannot write {path}: {error.strerror or error}") from None
    return path
