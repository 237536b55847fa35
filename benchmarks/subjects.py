"""What the benchmarks time: the networks, and every way of checking their gradients.

Networks: float64 MLPs ``width → width → width → 10`` at batch 32, with tanh
or ReLU hidden layers (identity output), as VJP cases of the suite, whose
widths give about 10^3, 10^4, 10^5 and 10^6 weights and biases.

Ways of checking one case, each a callable built once so that only the work
itself is timed:

* ``suite_check_end_to_end``: what a user waits for, ``conformance.runner.run_case``
  on ``reference_numpy`` from the case alone (its data generated, PyTorch oracle,
  finite differences, comparison, contract re-run); in this process or in a
  worker process;
* ``suite_check``: the same in steady state, the case's data generated
  beforehand (the oracle still recomputed on every call);
* ``gradcheck_end_to_end``: ``torch.autograd.gradcheck`` on the same network as a
  PyTorch function of the input, the weights and the biases, from the same
  arrays, its tensors built inside the timing; ``gradcheck_call``: the same in
  steady state, the tensors built beforehand;
* ``classic_loop``: central differences ``(f(θ+h e_i) - f(θ-h e_i)) / 2h``
  over every entry of the flat vector (input, weights, biases) of the
  implementation's own objective ``<upstream, forward(x)>``;
* ``floor``: one forward + backward of the implementation, and of PyTorch.

The per-entry methods (gradcheck's slow mode, the classic loop) cost the same
for every entry, so on a large network they are timed on a sample of entries
and the whole is extrapolated (see ``Slice``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from conformance.running.isolation import WorkerDriver
from conformance.cases.torch_ops import ACTIVATION_FNS
from conformance.running.targets import Target
from conformance.runner import case_data, oracle, run_case
from conformance.cases.spec import Case, CaseData, NetworkSpec
from conformance.implementations.reference_numpy import ReferenceNumpy

BATCH, OUTPUTS, DEPTH = 32, 10, 3
#: Hidden widths giving 960, 9 514, 98 560 and 996 864 weights and biases.
WIDTHS = {"1e3": 19, "1e4": 66, "1e5": 219, "1e6": 703}
ACTIVATIONS = ("tanh", "relu")
REFERENCE = Target("reference_numpy", ReferenceNumpy, "benchmarks")
#: The classic loop's step: the usual choice for float64 central differences.
CLASSIC_STEP = 1e-6


def case_for(size: str, activation: str) -> Case:
    width = WIDTHS[size]
    spec = NetworkSpec.mlp([width] * DEPTH + [OUTPUTS], activation, "identity")
    return Case(spec, BATCH, "float64", seed=0)


def flat_size(case: Case) -> int:
    """Entries finite differences perturb: the input's, the weights' and the biases'."""
    return case.spec.n_params + case.batch * case.spec.layers[0].n_in


def _checked(case: Case, isolated: bool, clear: tuple) -> tuple[Callable[[], list], Callable[[], None]]:
    """``run_case`` on the reference, the caches in ``clear`` emptied before each call, and a
    function that releases what it holds."""
    driver = WorkerDriver(REFERENCE) if isolated else REFERENCE

    def check() -> list:
        for cache in clear:
            cache.cache_clear()
        rows = run_case(driver, case)
        bad = [r.detail for r in rows if r.verdict != "pass"]
        if bad:
            raise AssertionError(f"the reference does not pass its own check: {bad[:3]}")
        return rows

    close = driver.close if isolated else (lambda: None)
    return check, close


def suite_check(case: Case, isolated: bool = False) -> tuple[Callable[[], list], Callable[[], None]]:
    """The suite's whole check of the case, and a function that releases what it holds.

    The case's generated data is shared (generation is timed on its own); the
    PyTorch oracle is recomputed on every call.
    """
    case_data(case)
    return _checked(case, isolated, (oracle,))


def suite_check_end_to_end(case: Case, isolated: bool = False) -> tuple[Callable[[], list], Callable[[], None]]:
    """What a user waits for: the suite's whole check of the case from nothing but the case,
    its data generated, the PyTorch oracle computed, every check run (``run_case``)."""
    return _checked(case, isolated, (case_data, oracle))


def torch_inputs(data: CaseData) -> list[torch.Tensor]:
    """Input, weights and biases as float64 leaves that require gradients."""
    arrays = [data.x, *data.params.weights, *(b for b in data.params.biases if b is not None)]
    return [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]


def torch_function(case: Case) -> Callable[..., torch.Tensor]:
    """The network as PyTorch function of ``(x, W0, W1, W2, b0, b1, b2)`` (``torch_inputs``' order)."""
    spec = case.spec

    def network(x, *params):
        weights, biases = params[:spec.depth], params[spec.depth:]
        a = x
        for layer, w, b in zip(spec.layers, weights, biases):
            a = ACTIVATION_FNS[layer.activation](torch.addmm(b, a, w.T))
        return a

    return network


def gradcheck_call(case: Case, fast_mode: bool) -> Callable[[], bool]:
    """``torch.autograd.gradcheck`` on the whole network, default tolerances, its tensors
    built beforehand (steady state)."""
    inputs, network = torch_inputs(case_data(case)), torch_function(case)
    return lambda: torch.autograd.gradcheck(network, inputs, fast_mode=fast_mode)


def gradcheck_end_to_end(case: Case, fast_mode: bool) -> Callable[[], bool]:
    """What a gradcheck user waits for, from the same arrays the suite generates (drawn
    once, outside the timing): the PyTorch tensors built from them, then ``gradcheck``."""
    data = case_data(case)
    return lambda: torch.autograd.gradcheck(torch_function(case), torch_inputs(data), fast_mode=fast_mode)


@dataclass(frozen=True)
class Slice:
    """A per-entry method run on ``entries`` sampled entries instead of all ``total``:
    the whole costs ``fixed + total * per_entry``, both fitted from two sample sizes."""

    entries: int
    total: int


def sampled_entries(case: Case, count: int) -> np.ndarray:
    """``count`` flat indices spread over every tensor, drawn from a fixed seed."""
    return np.random.default_rng(9).choice(flat_size(case), size=min(count, flat_size(case)), replace=False)


def gradcheck_slow_on(case: Case, indices: np.ndarray) -> Callable[[], bool]:
    """gradcheck's slow mode on the entries ``indices`` of the flat vector (the others held
    fixed): a column of the numerical Jacobian per entry, plus the whole analytical
    Jacobian, one backward per output element, as on the whole network."""
    inputs, network = torch_inputs(case_data(case)), torch_function(case)
    flat = torch.cat([t.detach().reshape(-1) for t in inputs])
    shapes = [t.shape for t in inputs]
    chosen = torch.as_tensor(indices)
    moving = flat[chosen].clone().requires_grad_()

    def on_entries(values: torch.Tensor) -> torch.Tensor:
        point = flat.index_put((chosen,), values)
        pieces = torch.split(point, [int(np.prod(s)) for s in shapes])
        return network(*(p.reshape(s) for p, s in zip(pieces, shapes)))

    return lambda: torch.autograd.gradcheck(on_entries, (moving,), fast_mode=False)


def objective(adapter: ReferenceNumpy, data: CaseData, theta: np.ndarray) -> float:
    """``<upstream, forward(x)>`` at the flat point ``theta``."""
    moved = data.with_flat(theta)
    adapter.build(data.case.spec, moved.params)
    return float(np.sum(adapter.forward(moved.x) * data.upstream))


def classic_loop_on(case: Case, indices: np.ndarray | None = None) -> Callable[[], np.ndarray]:
    """The per-entry central-difference loop over ``indices`` (every entry when None),
    perturbing one entry in place at a time; returns the estimates."""
    data = case_data(case)
    theta, adapter = data.flat().copy(), ReferenceNumpy()
    indices = np.arange(theta.size) if indices is None else indices

    def loop() -> np.ndarray:
        estimates = np.empty(len(indices))
        for k, i in enumerate(indices):
            kept = theta[i]
            theta[i] = kept + CLASSIC_STEP
            plus = objective(adapter, data, theta)
            theta[i] = kept - CLASSIC_STEP
            minus = objective(adapter, data, theta)
            theta[i] = kept
            estimates[k] = (plus - minus) / (2 * CLASSIC_STEP)
        return estimates

    return loop


def exact_gradient(case: Case) -> np.ndarray:
    """The flat gradient of the objective by PyTorch (to check the classic loop's estimates)."""
    grads = oracle(case).gradients
    pieces = [grads.input, *grads.weights, *(b for b in grads.biases if b is not None)]
    return np.concatenate([np.ravel(p) for p in pieces])


def floor_calls(case: Case) -> dict[str, Callable[[], object]]:
    """One forward + backward of the implementation and of PyTorch, on the case's data."""
    data = case_data(case)
    adapter = ReferenceNumpy()
    adapter.build(case.spec, data.params)
    inputs, network = torch_inputs(data), torch_function(case)
    upstream = torch.tensor(data.upstream)

    def implementation():
        adapter.forward(data.x)
        return adapter.backward(data.upstream)

    def pytorch():
        for t in inputs:
            t.grad = None
        network(*inputs).backward(upstream)

    return {"implementation": implementation, "pytorch": pytorch}
