"""What the adapter contract requires, checked with messages that say what it expects.

Two moments: ``class_problems`` looks at an adapter class before any case runs
(is it an adapter, are its methods there with the right parameters, are its
capabilities real names), so a mistake in the adapter itself is one line for
the user instead of a traceback from inside the harness. ``layout_violations``
looks at what one case returned and recognises layout mistakes an adapter
must fix by translating (a transposed weight gradient, a ``(1, n_out)`` bias,
gradients for too few layers or in reverse order); ``value_violations`` applies
the rule for every returned value, below; the comparison with the oracle still
judges the values.

The rule for faults: a value the implementation returns that breaks the
contract — None where a tensor is due, something that is not a numeric array, a
shape other than the canonical one, a dtype that is not floating or less
precise than the case's, a NaN or an infinity — is a ``contract`` failure that
names the tensor and what the contract expects (and the tensor's comparisons
fail too). So is a return value of the wrong type (``contract_fault``). An
``error`` is kept for an implementation that gives no answer: it raised,
crashed or hung. A float32 case answered in float64 passes, with a note on the
contract row (``value_notes``).
"""

from __future__ import annotations

import inspect
from collections.abc import Set

import numpy as np

from conformance.contract.adapter import Adapter, Capabilities, Gradients
from conformance.cases.layers import LAYER_KINDS, SEQUENCE_LOSSES, SequenceSpec
from conformance.cases.spec import ACTIVATIONS, CaseData, DTYPES

#: The methods every adapter implements, with the parameters the harness passes.
REQUIRED_METHODS = {"build": ("spec", "params"), "forward": ("x",), "backward": ("grad_output",)}
OPTIONAL_METHODS = {"loss": ("x", "targets"), "supports": ("spec", "batch", "dtype")}
REQUIRED = "build(spec, params), forward(x) and backward(grad_output) -> Gradients"

_NAMED_CAPABILITIES = {
    "activations": ACTIVATIONS,
    "output_activations": ACTIVATIONS,
    "losses": SEQUENCE_LOSSES,
    "dtypes": DTYPES,
    "layers": LAYER_KINDS,
    "penalties": ("l2",),
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
    return _attribute_problem(cls, source) or _backward_problem(cls, source) or _method_problem(cls, source)


def _backward_problem(cls: type[Adapter], source: str) -> str | None:
    """``backward`` is due unless the adapter declares it has nothing but its loss (``vjp=False``)."""
    if cls.capabilities.vjp and cls.backward is Adapter.backward:
        return (f"{source}: adapter {cls.__name__} does not implement backward(grad_output); the contract expects "
                f"{REQUIRED} (an adapter with nothing but its own loss declares Capabilities(vjp=False, losses=...) "
                f"and may leave backward out)")
    return None


def _method_problem(cls: type[Adapter], source: str) -> str | None:
    for method, parameters in REQUIRED_METHODS.items() | OPTIONAL_METHODS.items():
        function = getattr(cls, method, None)
        if not callable(function):
            return (f"{source}: {cls.__name__}.{method} is not a method; "
                    f"the contract expects {signature(method, parameters)}")
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
    if value.named is not None and not (isinstance(value.named, dict) and all(isinstance(k, str) for k in value.named)):
        return f"Gradients.named must be a dict of arrays by parameter name, got {type(value.named).__name__}"
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


def _named_count(gradients: Gradients, data: CaseData, method: str) -> list[tuple[str, str]]:
    """A layer-sequence network's gradients come by parameter name, every one of them."""
    due = [name for name in data.tensors() if name != "input"]
    if gradients.named is None:
        return [("*", f"{method} returned gradients by layer (Gradients.weights); a layer-sequence network's "
                      f"come by parameter name: Gradients(input, named={{{', '.join(map(repr, due[:3]))}, …}})")]
    if unknown := [name for name in gradients.named if name not in due]:
        return [("*", f"{method} returned a gradient for {unknown[0]!r}, which the network does not have; "
                      f"its parameters: {', '.join(due)}")]
    return []


def layout_violations(output: object, gradients: Gradients, data: CaseData, method: str) -> tuple[tuple[str, str], ...]:
    """(tensor, message) for every layout mistake in what one case returned."""
    sequence = isinstance(data.case.spec, SequenceSpec)
    found = _named_count(gradients, data, method) if sequence else _layer_count(gradients, data, method)
    due = {"output": data.case.spec.output_shape(data.case.batch)}
    due |= {name: tensor.shape for name, tensor in data.tensors().items()}
    returned = {"output": output} | gradients.tensors()
    for tensor, shape in due.items():
        got = _shape(returned.get(tensor))
        if got is not None and got != shape:
            message = _tensor_layout(tensor, got, shape, "forward" if tensor == "output" else method)
            if message:
                found.append((tensor, message))
    return tuple(found)


#: How the messages of ``gradients_problem`` and of a loss that returns no pair begin: a
#: return value of the wrong type, which the driver reports by raising.
CONTRACT_FAULTS = ("backward must return conformance.Gradients", "loss must return conformance.Gradients",
                   "loss must return (loss value, Gradients)", "Gradients.weights must be", "Gradients.biases must be")


def contract_fault(message: str) -> bool:
    """Whether a fault the driver raised is a return value that breaks the contract
    (a contract failure) rather than an implementation that gave no answer (an error)."""
    return message.startswith(CONTRACT_FAULTS)


def _due(data: CaseData, input_gradient: bool) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every returned tensor's due shape and how the contract names it."""
    case = data.case
    sequence = isinstance(case.spec, SequenceSpec)
    due = {"output": (case.spec.output_shape(case.batch), "the output's shape" if sequence else "(batch, n_out)")}
    if case.spec.loss is not None:
        due["loss"] = ((), "a scalar")
    for name, tensor in data.tensors().items():
        if name != "input" or input_gradient:
            due[name] = (tensor.shape, ("the input's shape" if sequence else "(batch, n_in)") if name == "input"
                         else f"{name}'s shape" if sequence
                         else "(n_out, n_in)" if name.startswith("weight") else "(n_out,)")
    return due


def _returned(output: object, loss: object, gradients: Gradients) -> dict[str, object]:
    return {"output": output, "loss": loss} | gradients.tensors()


def _value_problem(value: object, shape: tuple[int, ...], layout: str, dtype: str) -> str | None:
    """What breaks the contract in one returned value, else None."""
    if value is None:
        return f"None where an array of shape {layout} = {shape} is due"
    try:
        array = np.asarray(value)
    except Exception:  # ragged or otherwise not array-like
        return f"a {type(value).__name__} that is not an array; the contract expects {layout} = {shape}"
    if array.dtype.kind not in "fiub":
        return f"an array of dtype {array.dtype}, not numbers; the contract expects {dtype}"
    if array.shape != shape and not (shape == () and array.size == 1):
        return f"shape {array.shape}; the contract expects {layout} = {shape}"
    if array.dtype.kind != "f" or array.dtype.itemsize < np.dtype(dtype).itemsize:
        hint = (" (an implementation that computes in float32 only declares Capabilities(dtypes={'float32'}))"
                if array.dtype == np.float32 else "")
        return f"dtype {array.dtype} in a {dtype} case; the contract expects {dtype}{hint}"
    with np.errstate(invalid="ignore", over="ignore"):
        if not np.isfinite(array.sum()) and not np.isfinite(array).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            return (f"a non-finite value ({array[where] if where else array}) at {list(where)}; "
                    "the contract expects finite numbers")
    return None


def value_violations(output: object, loss: object, gradients: Gradients, data: CaseData, method: str,
                     input_gradient: bool = True) -> tuple[tuple[str, str], ...]:
    """(tensor, message) for every returned value that breaks the contract (see the module's rule)."""
    returned, found = _returned(output, loss, gradients), []
    for tensor, (shape, layout) in _due(data, input_gradient).items():
        problem = _value_problem(returned.get(tensor), shape, layout, data.case.dtype)
        if problem:
            said = "forward" if tensor == "output" else method
            found.append((tensor, f"{said} returned {tensor}: {problem}"))
    return tuple(found)


def value_notes(output: object, loss: object, gradients: Gradients, data: CaseData) -> tuple[str, ...]:
    """Returned arrays more precise than the case's dtype (within the contract, worth a note)."""
    due = np.dtype(data.case.dtype)
    wider = [tensor for tensor, value in _returned(output, loss, gradients).items()
             if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.dtype.itemsize > due.itemsize]
    if not wider:
        return ()
    shown = ", ".join(wider[:4]) + (f" and {len(wider) - 4} more" if len(wider) > 4 else "")
    return (f"note: {shown} returned more precise than the {due} case (compared as given; an implementation "
            f"that computes in {due} returns {due})",)
