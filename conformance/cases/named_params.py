"""A layer-sequence network's parameters by name (``NamedParams``): the differentiable tensors
in PyTorch's layout and layer order, and the buffers (dropout keep-masks, recurrent initial
states) that are given and never differentiated. Imports nothing of the harness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class NamedParams:
    """A layer-sequence network's parameters by name, in PyTorch's layout and layer order,
    and its buffers (dropout keep-masks), which are given and never differentiated."""

    tensors: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name] if name in self.tensors else self.buffers[name]

    def get(self, name: str, default=None):
        return self.tensors.get(name, self.buffers.get(name, default))

    # A read-only mapping over tensors then buffers: ``in``, iteration, len, keys/values/items.
    def __contains__(self, name: object) -> bool:
        return name in self.tensors or name in self.buffers

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.tensors) + len(self.buffers)

    def keys(self) -> list[str]:
        return [*self.tensors, *self.buffers]

    def values(self) -> list[np.ndarray]:
        return [self[name] for name in self.keys()]

    def items(self) -> list[tuple[str, np.ndarray]]:
        return [(name, self[name]) for name in self.keys()]

    def named(self) -> dict[str, np.ndarray]:
        """The differentiable tensors by name (what finite differences perturb)."""
        return dict(self.tensors)

    def copy(self) -> NamedParams:
        return NamedParams({k: v.copy() for k, v in self.tensors.items()},
                           {k: v.copy() for k, v in self.buffers.items()})

    def astype(self, dtype) -> NamedParams:
        return NamedParams({k: np.asarray(v, dtype=dtype) for k, v in self.tensors.items()},
                           {k: np.asarray(v, dtype=dtype) for k, v in self.buffers.items()})

    def rebuilt(self, named: dict[str, np.ndarray]) -> NamedParams:
        """The same buffers with these tensors."""
        return NamedParams(dict(named), self.buffers)

    #: The MLP fields, empty: code written for MLPs that reads them finds no layer.
    weights = ()
    biases = ()
