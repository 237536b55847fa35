"""What a worker's reply may hold, kind by kind: each reply read back as plain data and
checked against what its request can get back (structure, tensor names, array sizes,
dtypes, lengths of text); anything else is a ``malformed`` reply, an ``ImplementationFault``."""

from __future__ import annotations

import math
import re
from dataclasses import fields
from typing import Any

import numpy as np

from conformance.cases.spec import CaseData
from conformance.cases.conventions import OWN_REDUCTIONS, Conventions
from conformance.contract.adapter import Capabilities, Gradients
from conformance.contract.rules import capabilities_problem
from conformance.running import wire
from conformance.running.driver import ImplementationFault, Observation
from conformance.running.timing import Measurement, Timed

TENSOR_NAME = re.compile(r"(output|loss|input|warning|\*|(weight|bias)\[(\d+|\*)\]|\d+\.[a-z][a-z0-9_]{0,31})")
#: A name a worker may give a gradient by (an unknown one still reaches the contract's rules).
GRADIENT_NAME = re.compile(r"[A-Za-z0-9_.\[\]]{1,64}")


def malformed(what: str) -> ImplementationFault:
    return ImplementationFault(f"the worker sent a malformed reply: {what}")


#: The most load notes a reply may carry (the worker sends at most 41).
MAX_LOAD_NOTES = 48


def load_reply(body: Any) -> dict:
    if not (isinstance(body, dict) and set(body) == {"name", "class", "description", "capabilities", "notes"}
            and all(isinstance(body[k], str) for k in ("name", "class", "description"))):
        raise malformed("loading must answer with the adapter's name, class, description, capabilities "
                         "and notes")
    capabilities = capabilities_reply(body["capabilities"])
    return {"name": wire.clean_text(body["name"], 80), "class": wire.clean_text(body["class"], 80),
            "description": wire.clean_text(body["description"], 200), "capabilities": capabilities,
            "notes": load_notes(body["notes"])}


def load_notes(raw: Any) -> tuple[str, ...]:
    """What loading noticed (a notebook's skipped lines, cells that raised), as clean text."""
    if not (isinstance(raw, list) and len(raw) <= MAX_LOAD_NOTES and all(isinstance(n, str) for n in raw)):
        raise malformed(f"loading's notes must be a list of at most {MAX_LOAD_NOTES} lines of text")
    return tuple(wire.clean_text(note, 300) for note in raw)


def capabilities_reply(raw: Any) -> Capabilities:
    """``Capabilities`` rebuilt from plain data, each field of the type it declares."""
    defaults = Capabilities()
    if not (isinstance(raw, dict) and set(raw) == {f.name for f in fields(Capabilities)}):
        raise malformed("capabilities must give exactly Capabilities' fields")
    values = {}
    for field in fields(Capabilities):
        default, value = getattr(defaults, field.name), raw[field.name]
        if isinstance(default, Conventions):
            value = conventions_reply(value)
        elif isinstance(default, frozenset):
            if not (isinstance(value, list) and all(isinstance(v, (str, bool)) for v in value) and len(value) < 64):
                raise malformed(f"capabilities.{field.name} must be a list of names")
            value = frozenset(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise malformed(f"capabilities.{field.name} must be true or false")
        elif isinstance(default, str):
            value = wire.clean_text(value, 300) if isinstance(value, str) else None
        elif not (value is None and field.name.startswith("max_")
                  or isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 31):
            raise malformed(f"capabilities.{field.name} must be a whole number")
        if value is None and isinstance(default, str):
            raise malformed(f"capabilities.{field.name} must be text")
        values[field.name] = value
    capabilities = Capabilities(**values)
    if problem := capabilities_problem(capabilities):
        raise malformed(problem)
    return capabilities


def _convention_value(name: str, value: Any) -> bool:
    """Whether ``value`` has the plain type ``Conventions.<name>`` crosses the wire as."""
    if isinstance(getattr(Conventions(), name, None), bool):  # a flag
        return isinstance(value, bool)
    if name == "loss_reductions":  # (loss, outputs, batch) triples of names
        return (isinstance(value, (list, tuple)) and len(value) <= len(OWN_REDUCTIONS)
                and all(isinstance(e, (list, tuple)) and len(e) == 3 and all(isinstance(n, str) for n in e)
                        for e in value))
    return value is None or isinstance(value, (int, float, str)) and not isinstance(value, bool)


def conventions_reply(raw: Any) -> Conventions:
    """``Conventions`` rebuilt from plain data: its fields, each a number, a reduction's name, a
    flag (``l2_per_batch``, ``avgpool_count_include_pad``) or the per-loss reductions' triples."""
    names = {f.name for f in fields(Conventions)}
    if not (isinstance(raw, dict) and set(raw) == names and all(_convention_value(k, v) for k, v in raw.items())):
        raise malformed("capabilities.conventions must give exactly Conventions' fields, as numbers, names, "
                        "flags and the per-loss reductions")
    try:
        return Conventions(**raw)
    except ValueError as problem:
        raise malformed(str(problem)) from None


def _is_reason(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _reason(value: str | None) -> str | None:
    """A ``supports`` answer: none (the case runs), or its reason as clean text of at most 300 characters."""
    return None if value is None else wire.clean_text(value, 300) or "not supported"


def supports_reply(body: Any) -> str | None:
    if not (isinstance(body, dict) and set(body) == {"reason"} and _is_reason(body["reason"])):
        raise malformed("supports() must answer with a reason or none")
    return _reason(body["reason"])


def supports_each_reply(body: Any, count: int) -> list[str | None]:
    reasons = body.get("reasons") if isinstance(body, dict) and set(body) == {"reasons"} else None
    if not (isinstance(reasons, list) and len(reasons) == count and all(_is_reason(r) for r in reasons)):
        raise malformed(f"supports_each must answer with {count} reasons or none")
    return [_reason(r) for r in reasons]


def observation_bytes(data: CaseData) -> int:
    """The most bytes an observation of this case can need: every tensor the case has,
    and an output, in float64, several times over (a wrong shape is reported, not refused)."""
    largest = max(t.size for t in data.tensors().values())
    elements = sum(t.size for t in data.tensors().values()) + data.upstream.size
    return 8 * 8 * (elements + largest) + (1 << 16)


def tensor_value(value: Any, what: str) -> Any:
    if value is None or isinstance(value, (np.ndarray, wire.NotAnArray)):
        return value
    if isinstance(value, (bool, int, float)):  # a plain number, as the implementation returned it
        return value
    raise malformed(f"{what} must be an array or none")


def observation_reply(body: Any, data: CaseData) -> Observation:
    if not (isinstance(body, dict) and set(body) == {"output", "loss", "gradients", "violations", "notes"}):
        raise malformed("an observation must give output, loss, gradients, violations and notes")
    grads = body["gradients"]
    depth = data.case.spec.depth
    if not (isinstance(grads, dict) and set(grads) == {"input", "weights", "biases", "named"}
            and isinstance(grads["weights"], list) and isinstance(grads["biases"], list)
            and len(grads["weights"]) <= 4 * depth + 4 and len(grads["biases"]) <= 4 * depth + 4):
        raise malformed("gradients must give input, a list of weights and of biases, and named ones")
    gradients = Gradients(tensor_value(grads["input"], "the input gradient"),
                          tuple(tensor_value(w, "a weight gradient") for w in grads["weights"]),
                          tuple(tensor_value(b, "a bias gradient") for b in grads["biases"]),
                          named_tensors(grads["named"], len(data.tensors())))
    return Observation(tensor_value(body["output"], "the output"), tensor_value(body["loss"], "the loss"), gradients,
                       message_pairs(body["violations"], "violations"), message_pairs(body["notes"], "notes"))


def named_tensors(raw: Any, count: int) -> dict | None:
    """Gradients by parameter name, or None: names checked and bounded, every value an array or none."""
    if raw is None:
        return None
    if not (isinstance(raw, dict) and len(raw) <= 4 * count + 4 and all(GRADIENT_NAME.fullmatch(k) for k in raw)):
        raise malformed("named gradients must be a dict by parameter name")
    return {name: tensor_value(value, f"the gradient of {name}") for name, value in raw.items()}


def message_pairs(raw: Any, what: str) -> tuple[tuple[str, str], ...]:
    """(tensor, message) pairs the worker observed, tensor names checked, text cleaned."""
    if not (isinstance(raw, list) and len(raw) <= 64 and all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(s, str) for s in v)
            and TENSOR_NAME.fullmatch(v[0]) for v in raw)):
        raise malformed(f"{what} must be a list of (tensor, message)")
    return tuple((tensor, wire.clean_text(message, 500)) for tensor, message in raw)


def objective_values(body: Any, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The reply to a request for objective values (a network's ``evaluate``, a function's
    ``function_values``), one probe or a case's every probe in one batch: exactly one
    float64 array per probe asked, in order, of that probe's shape. A value that is not finite
    is the implementation's objective there, not a broken reply: the finite differences refuse
    it, naming the point (as they do in this process)."""
    if not (isinstance(body, list) and len(body) == len(shapes)):
        got = f"{len(body)}" if isinstance(body, list) else "no list"
        raise malformed(f"the objective values must be {len(shapes)} arrays, one per probe asked, got {got}")
    for k, (values, shape) in enumerate(zip(body, shapes)):
        if not (isinstance(values, np.ndarray) and values.dtype == np.float64 and values.shape == shape):
            got = (f"{values.dtype} of shape {values.shape}" if isinstance(values, np.ndarray)
                   else type(values).__name__)
            raise malformed(f"the objective values of probe {k + 1} of {len(shapes)} must be a float64 array of "
                            f"shape {shape}, got {got}")
    return body


def measurement_reply(raw: Any) -> Measurement:
    names = ("median_s", "q1_s", "q3_s", "repeats", "calls_per_repeat")
    if not (isinstance(raw, dict) and set(raw) == set(names)):
        raise malformed("a measurement must give its median, quartiles, repeats and calls")
    values = [raw[n] for n in names]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
               for v in values):
        raise malformed("a measurement's figures must be finite and not negative")
    return Measurement(float(values[0]), float(values[1]), float(values[2]), int(values[3]), int(values[4]))


def timed_reply(raw: Any, phase: str) -> Timed:
    if not (isinstance(raw, dict) and set(raw) == {"phase", "implementation", "torch"} and raw["phase"] == phase):
        raise malformed(f"the timing of phase {phase} is missing")
    return Timed(phase, measurement_reply(raw["implementation"]), measurement_reply(raw["torch"]))
