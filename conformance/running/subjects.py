"""Calling a function under test: a ``torch.autograd.Function`` (or any callable on torch
tensors), a NumPy ``forward``/``backward`` pair, or a layer object with ``forward`` and
``backward`` methods (CS231n style), all behind one small interface of NumPy arrays.

``Subject.run`` calls the forward and, given upstream gradients, the hand-written backward;
``Subject.at`` fixes a point and ``Subject.values`` evaluates the objective
``Σ_k <upstream_k, output_k>`` at ``theta + s * direction`` (``theta``: the differentiable
inputs, flattened and concatenated), which is all finite differences need. Everything in
and out is plain data, so the same requests are served in this process or by a sandboxed
worker. A torch subject keeps the inputs' device: points, directions and the objective are
formed there (float64 where the device has it), only scalars come back.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

#: Where a layer object's parameter gradient is read after ``backward``, in this order.
GRADIENT_PLACES = ("grads[{name}]", "d{name}", "grad_{name}", "{name}_grad")


class CallFault(Exception):
    """The function under test raised or returned something unusable; one line."""


@dataclass(frozen=True, eq=False)
class Ran:
    """What one call gave: the outputs as returned (NumPy), and for each differentiable
    input its gradient (None where the backward gave none)."""

    outputs: tuple[np.ndarray, ...]
    gradients: tuple[np.ndarray | None, ...] = ()
    #: The upstream gradients the backward was given (drawn here when a seed was).
    upstream: tuple[np.ndarray, ...] = ()


def upstream_for(outputs: Sequence[np.ndarray], upstream: Sequence[np.ndarray] | int) -> list[np.ndarray]:
    """The upstream gradients as given, or drawn from the seed given: uniform in [-1, 1) for
    every floating output (drawn in float32, a fifth of a normal draw's time, exact in float64),
    zeros for the others."""
    if not isinstance(upstream, (int, np.integer)):
        return [np.asarray(u, dtype=np.float64) for u in upstream]
    rng = np.random.default_rng([int(upstream), 7])
    return [np.asarray(2.0 * rng.random(o.shape, dtype=np.float32) - 1.0, dtype=np.float64) if o.dtype.kind == "f"
            else np.zeros(o.shape) for o in outputs]


def _outputs(value: object, what: str) -> tuple:
    outputs = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not outputs:
        raise CallFault(f"{what} returned no output")
    return outputs


def _float_outputs(arrays: Sequence[np.ndarray]) -> list[int]:
    """The outputs the objective sums over: the floating ones (an index output has no gradient)."""
    return [k for k, a in enumerate(arrays) if a.dtype.kind == "f"]


class TorchSubject:
    """A ``torch.autograd.Function`` subclass (called through ``apply``) or a callable on torch
    tensors; its backward is whatever autograd runs (the custom one, for a Function)."""

    kind = "torch"

    def __init__(self, fn: Any, device: str = "cpu"):
        import torch

        self.torch = torch
        self.call = fn.apply if isinstance(fn, type) and issubclass(fn, torch.autograd.Function) else fn
        self.device = torch.device(device)
        self._point: tuple | None = None

    def _tensor(self, array: np.ndarray, dtype: str | None = None):
        array = np.asarray(array)
        tensor = self.torch.from_numpy(np.ascontiguousarray(array).reshape(array.shape)).to(self.device)
        return tensor.to(getattr(self.torch, dtype)) if dtype and array.dtype.kind == "f" else tensor

    def _numpy(self, tensor) -> np.ndarray:
        if not isinstance(tensor, self.torch.Tensor):
            raise CallFault(f"returned {type(tensor).__name__} where a torch tensor is due")
        return tensor.detach().cpu().numpy()

    def run(self, inputs: Sequence[np.ndarray], differentiable: Sequence[bool],
            upstream: Sequence[np.ndarray] | int | None = None) -> Ran:
        """The outputs, and given ``upstream`` (arrays, or a seed to draw them from:
        ``upstream_for``) the gradients of the differentiable inputs."""
        torch = self.torch
        tensors = [self._tensor(x).requires_grad_(bool(d and upstream is not None))
                   for x, d in zip(inputs, differentiable)]
        with torch.enable_grad() if upstream is not None else torch.no_grad():
            outs = _outputs(self.call(*tensors), "the function")
            arrays = tuple(self._numpy(o) for o in outs)
            if upstream is None:
                return Ran(arrays)
            upstream = upstream_for(arrays, upstream)
            wanted = [t for t, d in zip(tensors, differentiable) if d]
            used = [k for k in _float_outputs(arrays) if outs[k].requires_grad]
            if not used:
                return Ran(arrays, tuple(None for _ in wanted), tuple(upstream))
            grads = torch.autograd.grad([outs[k] for k in used], wanted,
                                        [self._tensor(upstream[k]).to(outs[k].dtype) for k in used],
                                        allow_unused=True)
        return Ran(arrays, tuple(None if g is None else self._numpy(g) for g in grads), tuple(upstream))

    def at(self, inputs: Sequence[np.ndarray], differentiable: Sequence[bool], upstream: Sequence[np.ndarray],
           dtype: str) -> None:
        """Fix the point (the differentiable inputs in ``dtype``) the next ``values`` perturb."""
        theta = [self._tensor(x, dtype) if d else self._tensor(x) for x, d in zip(inputs, differentiable)]
        self._point = (theta, list(differentiable), [self._tensor(u, "float64") for u in upstream])

    def values(self, probes: Sequence[tuple[np.ndarray | int, np.ndarray]]) -> list[np.ndarray]:
        torch = self.torch
        theta, differentiable, upstream = self._point
        moving = [t for t, d in zip(theta, differentiable) if d]
        found = []
        with torch.no_grad():
            for direction, steps in probes:
                parts = _split(self._tensor(direction, "float64") if not isinstance(direction, int) else direction,
                               moving, torch)
                row = []
                for s in np.asarray(steps, dtype=np.float64):
                    args, k = [], 0
                    for t, d in zip(theta, differentiable):
                        args.append(_moved(t, parts[k], float(s), torch) if d else t)
                        k += d
                    outs = _outputs(self.call(*args), "the function")
                    row.append(sum(float(torch.vdot(o.reshape(-1).to(torch.float64), u.reshape(-1)))
                                   for o, u in zip(outs, upstream) if o.is_floating_point()))
                found.append(np.array(row))
        return found


def _split(direction, moving: list, torch) -> list:
    """A flat direction cut into one piece per differentiable input, shaped and typed as it (an
    int: that entry alone, as an index into the one input it falls in)."""
    sizes = [int(np.prod(t.shape, dtype=np.int64)) for t in moving]
    if isinstance(direction, int):
        pieces, start = [], 0
        for size in sizes:
            pieces.append(direction - start if 0 <= direction - start < size else None)
            start += size
        return pieces
    if torch is not None:
        return [p.reshape(t.shape).to(t.dtype) for p, t in zip(torch.split(direction, sizes), moving)]
    return [p.reshape(t.shape).astype(t.dtype) for p, t in zip(np.split(direction, np.cumsum(sizes)[:-1]), moving)]


def _moved(theta, piece, step: float, torch):
    """``theta + step * piece`` (piece: a dense piece of theta's shape and dtype, an entry's
    index, or None)."""
    if piece is None:
        return theta
    if isinstance(piece, (int, np.integer)):
        moved = theta.clone() if torch is not None else theta.copy()
        (moved.view(-1) if torch is not None else moved.reshape(-1))[int(piece)] += step
        return moved
    return theta.add(piece, alpha=step) if torch is not None else theta + piece * theta.dtype.type(step)


class NumpySubject:
    """A NumPy pair: ``forward(*inputs)`` returning the output(s), or ``(output, cache)``;
    ``backward(grad_output, cache)`` or ``backward(grad_output, *inputs)``, returning one
    gradient per input (None for the non-differentiable) or one per differentiable input.
    A layer object (``layer``) is the pair of its methods, its ``backward(grad_output)``
    taking the cache it kept; its parameters (``params``) are inputs set on it before each
    forward, their gradients read after ``backward`` (``GRADIENT_PLACES``)."""

    kind = "numpy"

    def __init__(self, forward: Callable, backward: Callable | None = None, cache: bool | None = None,
                 layer: Any = None, params: Sequence[str] = ()):
        self.forward, self.backward, self.cache = forward, backward, cache
        self.layer, self.params = layer, tuple(params)
        self._point: tuple | None = None

    def _forward(self, inputs: Sequence[np.ndarray]) -> tuple[tuple[np.ndarray, ...], object]:
        n = len(inputs) - len(self.params)
        for name, value in zip(self.params, inputs[n:]):
            set_param(self.layer, name, value)
        value = self.forward(*inputs[:n])
        cached = None
        if self.layer is None and isinstance(value, tuple) and len(value) == 2 and (
                self.cache or (self.cache is None and not isinstance(value[1], np.ndarray))):
            value, cached = value
        outputs = tuple(np.asarray(o) for o in _outputs(value, "forward"))
        if not all(o.dtype.kind in "fiub" for o in outputs):
            raise CallFault("forward returned something that is not a numeric array")
        return outputs, cached

    def run(self, inputs: Sequence[np.ndarray], differentiable: Sequence[bool],
            upstream: Sequence[np.ndarray] | int | None = None) -> Ran:
        inputs = [np.array(x) for x in inputs]  # the function's own copies: it may write into them
        outputs, cached = self._forward(inputs)
        if upstream is None:
            return Ran(outputs)
        upstream = upstream_for(outputs, upstream)
        grad_out = upstream[0] if len(outputs) == 1 else tuple(upstream)
        if self.layer is not None:
            given = self.backward(grad_out)
        elif cached is not None:
            given = self.backward(grad_out, cached)
        else:
            given = self.backward(grad_out, *inputs[:len(inputs) - len(self.params)])
        given = list(given) if isinstance(given, (tuple, list)) else [given]
        n = len(inputs) - len(self.params)
        wanted = [i for i in range(n) if differentiable[i]]
        if len(given) == n and n != len(wanted):
            given = [given[i] for i in wanted]
        if len(given) != len(wanted):
            raise CallFault(f"backward returned {len(given)} gradients; due: one per input ({n}) "
                            f"or one per differentiable input ({len(wanted)})")
        given += [_param_gradient(self.layer, name) for name, d in zip(self.params, differentiable[n:]) if d]
        return Ran(outputs, tuple(None if g is None else np.asarray(g) for g in given), tuple(upstream))

    def at(self, inputs: Sequence[np.ndarray], differentiable: Sequence[bool], upstream: Sequence[np.ndarray],
           dtype: str) -> None:
        theta = [np.asarray(x, dtype=dtype) if d else np.asarray(x) for x, d in zip(inputs, differentiable)]
        self._point = (theta, list(differentiable), [np.asarray(u, dtype=np.float64) for u in upstream])

    def values(self, probes: Sequence[tuple[np.ndarray | int, np.ndarray]]) -> list[np.ndarray]:
        theta, differentiable, upstream = self._point
        found = []
        for direction, steps in probes:
            parts = _split(direction if isinstance(direction, int) else np.asarray(direction, dtype=np.float64),
                           [t for t, d in zip(theta, differentiable) if d], None)
            row = []
            for s in np.asarray(steps, dtype=np.float64):
                args, k = [], 0
                for t, d in zip(theta, differentiable):
                    args.append(_moved(t, parts[k], float(s), None) if d else t.copy())
                    k += d
                outputs, _ = self._forward(args)
                row.append(sum(float(np.vdot(o.astype(np.float64).ravel(), u.ravel()))
                               for o, u in zip(outputs, upstream) if o.dtype.kind == "f"))
            found.append(np.array(row))
        return found


def set_param(layer: Any, name: str, value: np.ndarray) -> None:
    store = getattr(layer, "params", None)
    if isinstance(store, dict) and name in store:
        store[name] = value
    else:
        setattr(layer, name, value)


def _param_gradient(layer: Any, name: str) -> np.ndarray | None:
    grads = getattr(layer, "grads", None)
    if isinstance(grads, dict) and name in grads:
        return grads[name]
    for place in GRADIENT_PLACES[1:]:
        if (found := getattr(layer, place.format(name=name), None)) is not None:
            return found
    return None


def layer_params(layer: Any) -> dict[str, np.ndarray]:
    """A layer object's parameters as it holds them: its ``params`` dict, else none."""
    store = getattr(layer, "params", None)
    return {k: np.asarray(v) for k, v in store.items()} if isinstance(store, dict) else {}


def parameter_names(fn: Any) -> list[str] | None:
    """The names of a callable's positional parameters (a Function's ``forward`` without ctx)."""
    target = fn.forward if isinstance(fn, type) and hasattr(fn, "apply") else fn
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return None
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return names[1:] if target is not fn else names
