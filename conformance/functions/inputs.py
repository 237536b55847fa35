"""The inputs of a function under test: what each is (a float tensor to differentiate, integer
indices, a mask, a float constant), read from a short description or from examples, the
shapes to try, and values drawn from a seed.

A description maps names to shapes, ``{"x": (4, 8), "w": (8, 3)}``, to one example array or
tensor (its shape, and its kind: floating, integer indices, a boolean mask), or to a marker for
an input that is not differentiated: ``Index((4,), high=8)``, ``Mask((4, 8))``,
``Constant((4, 8))``. Examples (arrays or tensors) give the same: floating ones are
differentiated, integer and boolean ones are not. Equal sizes are taken to be tied (the
8 of ``x`` and of ``w``), so the second shape variant maps every size to another one,
keeping the ties: ``x (5, 9), w (9, 4)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

FLOAT, INDEX, MASK, CONSTANT = "float", "index", "mask", "constant"


@dataclass(frozen=True)
class Index:
    """Integer indices in ``[0, high)``: not differentiated."""

    shape: tuple[int, ...]
    high: int


@dataclass(frozen=True)
class Mask:
    """A boolean mask: not differentiated."""

    shape: tuple[int, ...]


@dataclass(frozen=True)
class Constant:
    """A float input held fixed (not differentiated)."""

    shape: tuple[int, ...]


@dataclass(frozen=True)
class InputSpec:
    """One input: its name, shape and kind (``high`` bounds an index)."""

    name: str
    shape: tuple[int, ...]
    kind: str = FLOAT
    high: int = 0

    @property
    def differentiable(self) -> bool:
        return self.kind == FLOAT

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def label(self) -> str:
        dims = "x".join(map(str, self.shape)) or "scalar"
        return f"{self.name}{dims}" + ("" if self.kind == FLOAT else f"({self.kind})")


def _shape(value: Any, name: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in (value if isinstance(value, (tuple, list)) else (value,)))
    except (TypeError, ValueError):
        raise ValueError(f"input {name!r}: a shape is a tuple of whole numbers, got {value!r}") from None
    if any(d <= 0 for d in shape):
        raise ValueError(f"input {name!r}: every size must be positive, got {shape}")
    return shape


def from_description(description: Mapping[str, Any]) -> tuple[InputSpec, ...]:
    """``{"x": (4, 8), "idx": Index((4,), 8)}`` as input specs, in the given order."""
    if not isinstance(description, Mapping) or not description:
        raise ValueError("inputs are described as a dict of name -> shape, e.g. {'x': (4, 8), 'w': (8, 3)}")
    specs = []
    for name, value in description.items():
        if isinstance(value, Index):
            if value.high < 1:
                raise ValueError(f"input {name!r}: Index needs high >= 1")
            specs.append(InputSpec(str(name), _shape(value.shape, name), INDEX, int(value.high)))
        elif isinstance(value, Mask):
            specs.append(InputSpec(str(name), _shape(value.shape, name), MASK))
        elif isinstance(value, Constant):
            specs.append(InputSpec(str(name), _shape(value.shape, name), CONSTANT))
        elif hasattr(value, "shape") and hasattr(value, "dtype"):  # one example: its shape and kind
            specs += from_examples([as_numpy(value)], [str(name)])
        else:
            specs.append(InputSpec(str(name), _shape(value, name)))
    return tuple(specs)


def as_numpy(value: Any) -> np.ndarray:
    """An example as a NumPy array (a torch tensor is copied to the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise ValueError(f"an input must be a numeric array or tensor, got {type(value).__name__}")
    return array


def from_examples(examples: Sequence[np.ndarray], names: Sequence[str], constant: Sequence[str] = ()
                  ) -> tuple[InputSpec, ...]:
    """Input specs read from example arrays: floating ones differentiated unless named in ``constant``."""
    specs = []
    for name, array in zip(names, examples):
        if array.dtype.kind == "f":
            specs.append(InputSpec(name, array.shape, CONSTANT if name in constant else FLOAT))
        elif array.dtype.kind == "b":
            specs.append(InputSpec(name, array.shape, MASK))
        else:
            specs.append(InputSpec(name, array.shape, INDEX, int(array.max(initial=0)) + 1))
    return tuple(specs)


def variants(specs: tuple[InputSpec, ...], count: int) -> list[tuple[InputSpec, ...]]:
    """``count`` shape variants, the given shapes first; each later one maps every size (and
    index bound equal to a size) ``s`` to ``s + k``, so tied sizes stay tied and sizes that
    were different stay different (non-square stays non-square)."""
    found = [specs]
    for k in range(1, count):
        def grown(s: int) -> int:
            return s + k if s > 1 else s  # a size of 1 is a broadcast: kept
        sizes = {d for spec in specs for d in spec.shape}
        found.append(tuple(replace(spec, shape=tuple(grown(d) for d in spec.shape),
                                   high=grown(spec.high) if spec.high in sizes else spec.high) for spec in specs))
    return found


def draw(specs: Sequence[InputSpec], dtype: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Values for every input: floats uniform in [-1, 1] away from 0 by nothing in particular
    (kinks are found and avoided afterwards, from the forward), indices in [0, high), masks
    with about half set."""
    values = []
    for spec in specs:
        if spec.kind in (FLOAT, CONSTANT):
            values.append(rng.uniform(-1.0, 1.0, spec.shape).astype(dtype))
        elif spec.kind == INDEX:
            values.append(rng.integers(0, spec.high, spec.shape, dtype=np.int64))
        else:
            values.append(rng.random(spec.shape) < 0.5)
    return values


def case_label(specs: Sequence[InputSpec], dtype: str) -> str:
    """A run's id: its inputs' shapes and the dtype, e.g. ``x4x8-w8x3-float32``."""
    return "-".join(spec.label() for spec in specs) + f"-{dtype}"
