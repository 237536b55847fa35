"""What the adapter contract requires, checked with messages that say what it expects.

Two moments: ``class_problems`` looks at an adapter class before any case runs
(is it an adapter, are its methods there with the right parameters, are its
capabilities real names), so a mistake in the adapter itself is one line for
the user instead of a traceback from inside the harness. ``layout_violations``
looks at what one case returned and recognises layout mistakes an adapter
must fix by translating (a transposed weight gradient, a ``(1, n_out)`` bias,
gradients for too few layers or in reverse order); the comparison with the
oracle still judges the values.
"""

from __future__ import annotations

import inspect
from collections.abc import Set

import numpy as np

from conformance.adapter import Adapter, Capabilities, Gradients
from conformance.spec import ACTIVATIONS, DTYPES, LOSSES, CaseData

#: The methods every adapter implements, with the parameters the harness passes.
REQUIRED_METHODS = {"build": ("spec", "params"), "forward": ("x",), "backward": ("grad_output",)}
OPTIONAL_METHODS = {"loss": ("x", "targets"), "supports": ("spec", "batch", "dtype")}
REQUIRED = "build(spec, params), forward(x) and backward(grad_output) -> Gradients"

_NAMED_CAPABILITIES = {
    "activations": ACTIVATIONS,
    "output_activations": ACTIVATIONS,
    "losses": LOSSES,
    "dtypes": DTYPES,
}


def signature(method: str, parameters: tuple[str, ...]) -> str:
    return f"{method}({', '.join(parameters)})"


def looks_like_an_adapter(cls: type) -> bool:
    """A class with the contract's methods that forgot to subclass ``Adapter``."""
    return all(callable(getattr(cls, method, None)) for method in ("forward", "backward"))


def class_problems(cls: object, source: str) -> str | None:
    """None for a usable adapter class, else one line saying what the contract expects."""
    if not (inspect.isclass(cls) and issubclass(cls, Adapter)):
        what = cls.__name__ if inspect.isclass(cls) else f"a {type(cls).__name__} (not a class)"
        return (f"{source} is not an adapter: {what} does not subclass conformance.Adapter "
                f"(an adapter is a class with {REQUIRED})")
    if inspect.isabstract(cls):
        missing = ", ".join(signature(m, REQUIRED_METHODS.get(m, ())) for m in sorted(cls.__abstractmethods__))
        return f"{source}: adapter {cls.__name__} does not implement {missing}; the contract expects {REQUIRED}"
    return _attribute_problem(cls, source) or _method_problem(cls, source)


def _method_problem(cls: type[Adapter], source: str) -> str | None:
    for method, parameters in REQUIRED_METHODS.items() | OPTIONAL_METHODS.items():
        function = getattr(cls, method, None)
        if not callable(function):
            return f"{source}: {cls.__name__}.{method} is not a method; the contract expects {signature(method, parameters)}"
        try:
            inspect.signature(function).bind(None, *parameters)
        except TypeError:
            return (f"{source}: {cls.__name__}.{method}{inspect.signature(function)} cannot be called as "
                    f"{signature(method, parameters)}; the contract passes exactly those arguments")
        except ValueError:
            continue  # a builtin without a signature: nothing to check
    if cls.capabilities.losses and cls.loss is Adapter.loss:
        names = ", ".join(sorted(cls.capabilities.losses))
        return (f"{source}: {cls.__name__} declares losses ({names}) but does not implement "
                f"loss(x, targets) -> (loss value, Gradients)")
    return None


def _attribute_problem(cls: type[Adapter], source: str) -> str | None:
    if not isinstance(cls.name, str):
        return f"{source}: {cls.__name__}.name must be a string, got {type(cls.name).__name__}"
    capabilities = cls.capabilities
    if not isinstance(capabilities, Capabilities):
        return (f"{source}: {cls.__name__}.capabilities must be conformance.Capabilities(...), "
                f"got {type(capabilities).__name__}")
    if problem := capabilities_problem(capabilities):
        return f"{source}: {problem}"
    if not capabilities.vjp and not capabilities.losses:
        return f"{source}: {cls.__name__} declares vjp=False and no loss, so no case can run"
    return None


def capabilities_problem(capabilities: Capabilities) -> str | None:
    """None when every named capability is a real name, else one line saying which is not."""
    for field, known in _NAMED_CAPABILITIES.items():
        value = getattr(capabilities, field)
        if isinstance(value, str) or not isinstance(value, Set):
            return (f"capabilities.{field} must be a set of names such as {{{known[0]!r}}}, "
                    f"got {type(value).__name__} {value!r}")
        if unknown := sorted(map(str, set(value) - set(known))):
            return (f"capabilities.{field} names unknown {', '.join(map(repr, unknown))}; "
                    f"known: {', '.join(known)}")
    if not isinstance(capabilities.bias, Set) or not set(capabilities.bias) <= {True, False}:
        return f"capabilities.bias must be a set of True/False, got {capabilities.bias!r}"
    return None


def gradients_problem(value: object, method: str) -> str | None:
    """None when ``value`` is a ``Gradients`` with a tuple of tensors per field, else
    the one line the user needs."""
    wanted = f"{method} must return conformance.Gradients(input, weights, biases)"
    if value is None:
        return f"{wanted}, got None (does it only update the weights in place? return the gradients instead)"
    if isinstance(value, (tuple, list)) and len(value) == 3:
        return f"{wanted}, got {type(value).__name__}; wrap the three parts: Gradients(input, weights, biases)"
    if not isinstance(value, Gradients):
        return f"{wanted}, got {type(value).__name__}"
    for field in ("weights", "biases"):
        tensors = getattr(value, field)
        if not isinstance(tensors, (tuple, list)):
            return f"Gradients.{field} must be a tuple with one array per layer, got {type(tensors).__name__}"
    return None


def _shape(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return np.shape(value)
    except Exception:  # ragged or otherwise not array-like: the comparison reports it
        return None


def _tensor_layout(tensor: str, got: tuple[int, ...], due: tuple[int, ...], method: str) -> str | None:
    """The message for a recognisable layout mistake in one tensor, else None."""
    said = f"{method} returned {tensor} of shape {got}; the contract expects"
    if tensor.startswith("weight") and len(due) == 2 and got == due[::-1] and due[0] != due[1]:
        return f"{said} (n_out, n_in) = {due}: transpose it in your adapter"
    if tensor.startswith("bias") and len(due) == 1 and got in ((1, due[0]), (due[0], 1)):
        return f"{said} (n_out,) = {due}: flatten it in your adapter (.reshape(-1))"
    if tensor in ("input", "output") and len(due) == 2 and got == due[::-1] and due[0] != due[1]:
        layout = "(batch, n_in)" if tensor == "input" else "(batch, n_out)"
        return f"{said} {layout} = {due}: transpose it in your adapter"
    return None


def _layer_count(gradients: Gradients, data: CaseData, method: str) -> list[tuple[str, str]]:
    depth = data.case.spec.depth
    due = [w.shape for w in data.params.weights]
    got = [_shape(w) for w in gradients.weights]
    found = []
    if depth > 1 and got != due and got[::-1] == due:
        found.append(("weight[*]", f"{method} returned the weight gradients in reverse order; "
                                   f"the contract expects the first layer's first"))
    elif len(got) != depth:
        found.append(("weight[*]", f"{method} returned {len(got)} weight gradients for a {depth}-layer network; "
                                   f"the contract expects one per layer, the first layer's first"))
    if data.case.spec.bias and len(gradients.biases) != depth:
        found.append(("bias[*]", f"{method} returned {len(gradients.biases)} bias gradients for a {depth}-layer "
                                 f"network; the contract expects one per layer (None for a layer without bias)"))
    return found


def layout_violations(output: object, gradients: Gradients, data: CaseData, method: str) -> tuple[tuple[str, str], ...]:
    """(tensor, message) for every layout mistake in what one case returned."""
    found = _layer_count(gradients, data, method)
    due = {"output": (data.case.batch, data.case.spec.layers[-1].n_out)}
    due |= {name: tensor.shape for name, tensor in data.tensors().items()}
    returned = {"output": output} | gradients.tensors()
    for tensor, shape in due.items():
        got = _shape(returned.get(tensor))
        if got is not None and got != shape:
            message = _tensor_layout(tensor, got, shape, "forward" if tensor == "output" else method)
            if message:
                found.append((tensor, message))
    return tuple(found)
