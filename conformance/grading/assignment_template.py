"""``conformance new --assignment PATH``: a commented assignment file to fill in."""

from __future__ import annotations

from pathlib import Path

TEXT = '''"""ASSIGNMENT: FILL IN its name. Grade with:  conformance grade THIS_FILE.py submissions/

Students hand in a notebook (.ipynb), a .py file or a folder; they write no
adapter. This file is yours: the adapter below reaches each student's code
through ``self.submission`` (their notebook or module, run inside the sandbox)
and translates your exercise's API to the suite's layout.
"""

import numpy as np

from conformance import Adapter, Capabilities, Gradients

# ---- grading settings: plain literals, read without running this file ------------------
# The names every submission must define (missing ones: "not loaded", naming them).
API = ("NeuralNetwork",)  # FILL IN, e.g. ("NeuralNetwork", "FullyConnectedLayer", "Sigmoid")
# What every submission must run (terms of --require): else its verdict is "incomplete".
REQUIRE = "bias,float64,depth>=2"  # FILL IN
# Points per check family (forward, gradient, loss, fd_directional, fd_entry, contract)
# or per required group of cases ("bias,depth>=2"): each earns its points times the
# share of its cases that pass.
POINTS = {"forward": 2, "gradient": 5, "bias,depth>=2": 3}  # FILL IN
# GRID = "quick"  # the quick grid instead of the full one
# Modules no submission may use: not provided at all (this is the default; [] forbids nothing).
# FORBID = ["torch", "jax", "tensorflow", "autograd", "conformance.implementations", "conformance.oracles"]
# A forward following a common convention other than PyTorch's (and the adapter's declared ones,
# e.g. an mse summed over the outputs): "accept" (the default: judged under it, it may pass) or
# "fail" (its forward and loss fail, the convention named as the reason).
# OTHER_CONVENTION = "fail"


class Assignment(Adapter):
    name = "assignment"  # FILL IN: shown in the report
    description = "FILL IN: the exercise, in one line"
    # What your exercise asks for: the cases outside it are "not applicable" for every student.
    # It is read, with supports(), from this file alone before any student's code runs
    # (self.submission is None then), so it cannot depend on the submission.
    capabilities = Capabilities(
        activations=frozenset({"sigmoid"}),  # FILL IN: the hidden activations the exercise has
        output_activations=frozenset({"identity"}),
        bias=frozenset({True}),
        losses=frozenset(),  # e.g. {"half_mse"} when the students write a loss; then fill in loss()
    )

    def build(self, spec, params):
        """Build the student's network; weights come as (n_out, n_in), biases as (n_out,)."""
        student = self.submission
        sizes = spec.sizes  # (n_in, hidden..., n_out)
        # Random initial weights the constructor may draw are overwritten below. build runs
        # for every finite-difference evaluation, so keep it lean: it is most of grading's time.
        self.net = student.NeuralNetwork(sizes[0], sizes[-1], list(sizes[1:-1]))  # FILL IN
        for layer, w, b in zip(self.net.layers, params.weights, params.biases):  # FILL IN
            layer.weights, layer.bias = w.T.copy(), b.reshape(1, -1).copy()

    def forward(self, x):
        self.x = x
        return self.net.forward(x)  # FILL IN

    def backward(self, grad_output):
        """Gradients(input, weights, biases) in the suite's layout: weights (n_out, n_in), biases (n_out,)."""
        grad_x, weight_grads, bias_grads = self.net.backward(self.x, grad_output)  # FILL IN
        return Gradients(grad_x, tuple(np.asarray(g).T for g in weight_grads),
                         tuple(np.asarray(g).reshape(-1) for g in bias_grads))

    # def loss(self, x, targets):
    #     """Only with losses in capabilities: the student's loss value and its gradients."""
    #     loss_function = self.submission.MeanSquaredError()
    #     pred = self.forward(x)
    #     return loss_function.forward(pred, targets), self.backward(loss_function.backward(pred, targets))
'''


class TemplateError(Exception):
    """The template cannot be written; one line."""


def write(path: Path | str) -> Path:
    path = Path(path)
    if path.suffix != ".py":
        raise TemplateError(f"{path}: the assignment file must end in .py")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as file:
            file.write(TEXT)
    except FileExistsError:
        raise TemplateError(f"{path} already exists; not overwriting it (choose another name)") from None
    except OSError as error:
        raise TemplateError(f"cannot write {path}: {error.strerror or error}") from None
    return path
