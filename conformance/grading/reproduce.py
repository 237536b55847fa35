"""The smallest failing case in the assignment's own API: the calls a student types.

An assignment file may say how its functions are called (``REPRODUCE``, a plain literal the
grader reads without running the file): a dict of code templates, ``build`` (the network made
from the case's arrays, required), ``backward`` (an upstream gradient's case), ``loss`` (a loss
case) and ``compare`` (set beside PyTorch's values, optional). Each template is Python with
``{placeholders}`` (``FIELDS``; a literal brace is written twice), filled for the case: the
arrays it names are those the reproduction defines, in PyTorch's layout (``W0``, ``b0``, …,
``x``, ``grad_output`` or ``targets``, ``expected_dW0``, …), so that a template translates them
as the assignment's adapter does.

Where a template does not apply (a network that is not an MLP, a mode the dict does not name,
no ``REPRODUCE``) the case is written in the layout-neutral form only, never in a wrong API.
"""

from __future__ import annotations

import string
from typing import Mapping

from conformance.cases.spec import Case, NetworkSpec

#: The templates ``REPRODUCE`` may give, and those it must.
KEYS, REQUIRED = ("build", "backward", "loss", "compare"), ("build",)
#: What a template may name, filled for the case (``fields``).
FIELDS = ("sizes", "n_in", "n_out", "hidden", "weights", "biases", "activation", "output_activation", "batch",
          "loss", "expected_weights", "expected_biases")


class TemplateError(ValueError):
    """A ``REPRODUCE`` the grader cannot use; one line for the instructor."""


def templates(value: object) -> tuple[tuple[str, str], ...]:
    """``REPRODUCE`` checked: its templates by key (``TemplateError`` says what is wrong)."""
    if not (isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
        raise TemplateError("REPRODUCE must be a dict of code templates by name, e.g. {'build': '...'}")
    if unknown := sorted(set(value) - set(KEYS)):
        raise TemplateError(f"REPRODUCE names {', '.join(map(repr, unknown))}; its templates are {', '.join(KEYS)}")
    if missing := [key for key in REQUIRED if key not in value]:
        raise TemplateError(f"REPRODUCE has no {missing[0]!r} template (how the network is made)")
    for key, text in value.items():
        try:
            named = [field for _, field, spec, conversion in string.Formatter().parse(text) if field is not None
                     and (field not in FIELDS or spec or conversion)]
        except ValueError as error:
            raise TemplateError(f"REPRODUCE[{key!r}]: {error} (a literal brace is written twice)") from None
        if named:
            raise TemplateError(f"REPRODUCE[{key!r}] names {{{named[0]}}}; a template may name "
                                + ", ".join(f"{{{f}}}" for f in FIELDS))
    return tuple((key, value[key]) for key in KEYS if key in value)


def fields(case: Case) -> dict[str, object]:
    """What the placeholders stand for in ``case`` (an MLP's)."""
    spec = case.spec
    layers = range(spec.depth)
    return {"sizes": list(spec.sizes), "n_in": spec.sizes[0], "n_out": spec.sizes[-1],
            "hidden": list(spec.sizes[1:-1]), "weights": _names("W", layers),
            "biases": _names("b", layers) if spec.bias else repr([None] * spec.depth),
            "activation": repr(spec.hidden_activation), "output_activation": repr(spec.output_activation),
            "batch": case.batch, "loss": repr(spec.loss), "expected_weights": _names("expected_dW", layers),
            "expected_biases": _names("expected_db", layers) if spec.bias else repr([None] * spec.depth)}


def _names(prefix: str, layers: range) -> str:
    return "[" + ", ".join(f"{prefix}{i}" for i in layers) + "]"


def calls(given: tuple[tuple[str, str], ...], case: Case) -> tuple[list[str], list[str]] | None:
    """The case's calls in the assignment's API (the network made, then the backward or the
    loss) and its comparison, as lines; None where the templates do not apply to ``case``."""
    by_key: Mapping[str, str] = dict(given)
    mode = "backward" if case.spec.loss is None else "loss"
    if not isinstance(case.spec, NetworkSpec) or "build" not in by_key or mode not in by_key:
        return None
    filled = fields(case)
    run = [by_key["build"].format_map(filled), by_key[mode].format_map(filled)]
    compare = [by_key["compare"].format_map(filled)] if "compare" in by_key else []
    return "\n".join(run).splitlines(), "\n".join(compare).splitlines()
