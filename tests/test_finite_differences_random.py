"""Zero false alarms from finite differences, over thousands of random cases off the grid.

Marked slow (``pytest -m slow``; the default run leaves it out). Every random
case (``spec.random_cases``: depth 1 to 4, widths 1 to 8, every activation,
bias on or off, batch 1 and more, float32 and float64, the VJP and every
loss) runs through the reference and through every bundled port where the
port is correct, with both oracles; every row must pass. The only rows
allowed not to pass are cases a port does not support (its own reason) and
finite-difference rows whose every estimate would cross a ReLU kink, which
are counted and must stay rare. A second pass moves one ReLU pre-activation
of each case to between 1e-9 and 1e-2 of its kink, where the generated margin
no longer protects the estimates, and still allows no failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from conformance.contract.adapter import Capabilities
from conformance.running.driver import Driver
from conformance.oracles.fd_checks import finite_difference_rows
from conformance.running.targets import Target, load
from conformance.runner import Checks, run_case
from conformance.cases.spec import Case, KINKED_ACTIVATIONS, LOSSES, rng_for
from conformance.cases.mlp_data import generate
from conformance.cases.grid import random_cases
from conformance.implementations.reference_numpy import ReferenceNumpy
from tests.faulty.wrong_gradients import DoubledBackward, TransposedSquareWeight, float32_only
from tests.near_kink import placed_near_kink

pytestmark = pytest.mark.slow

RANDOM_CASES = 2000
SEED = 4
#: A port that supports few of the random cases also gets this many cases it supports,
#: drawn from a longer random stream, so that it is exercised on more than a handful.
AT_LEAST = 300
#: Largest share of finite-difference rows that may be left not applicable (kinks).
MOST_NOT_APPLICABLE = 0.01
#: Largest share of faulty cases a float32-only implementation's finite differences may miss.
#: Differentiated in float32, the objective carries rounding noise of about eps * |f|, so a fault
#: in a gradient much smaller than the objective (the inner layers of a deep sigmoid network
#: under a sum-of-squares loss) can stay inside the estimate's error bound; every such miss is
#: a case where the row's bound is larger than the fault, never a wrong verdict on a larger one.
MOST_MISSED_IN_FLOAT32 = 0.02
KINK_REASONS = ("crosses its kink", "either side of its kink")


class ReferenceFloat32Only(ReferenceNumpy):
    """The reference declaring float32 only: its finite differences are taken in float32."""

    name = "reference_numpy_float32_only"
    capabilities = Capabilities(losses=frozenset(LOSSES), dtypes=frozenset({"float32"}))


@dataclass(frozen=True)
class Port:
    target: Callable[[], Target]
    #: The cases on which the implementation is correct (of those it supports).
    correct: Callable[[Case], bool] = lambda case: True


def probabilities_clipped(case: Case) -> bool:
    """Whether a label's softmax probability comes near the clip the seed's cross-entropy takes
    (``np.clip(y_pred, 1e-7, 1 - 1e-7)`` in the loss, none in the combined backward): there its
    gradient is not the derivative of its loss, which both oracles rightly report. Checked
    with a tenfold margin, since the stencil moves the probabilities too."""
    if case.spec.loss != "softmax_cross_entropy":
        return False
    data = generate(case)
    reference = ReferenceNumpy()
    reference.build(case.spec, data.params)
    logits = np.asarray(reference.forward(data.x), dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return bool(np.any(p < 1e-6) or np.any(p > 1 - 1e-6))


PORTS = {
    "reference_numpy": Port(lambda: load("reference_numpy")),
    "reference_numpy_float32_only": Port(lambda: Target(ReferenceFloat32Only.name, ReferenceFloat32Only, "test")),
    "class_layers": Port(lambda: load("conformance.implementations.class_layers:ClassLayers")),
    "single_layer_relu": Port(lambda: load("conformance.implementations.single_layer_relu:SingleLayerRelu"),
                              lambda case: not probabilities_clipped(case)),
    # Deeper networks meet the seed's backward_pass, which takes the activation derivative
    # of linear_values[l] where linear_values[l - 1] belongs (a broadcast error or wrong values).
    "delta_recursion": Port(lambda: load("conformance.implementations.delta_recursion:DeltaRecursion"),
                            lambda case: case.spec.depth == 1),
    # Its recorded defects: bias gradients not summed over a batch, a half-MSE gradient without the mean.
    "cached_input": Port(lambda: load("conformance.implementations.cached_input:CachedInput"),
                         lambda case: case.batch == 1 and case.spec.loss is None),
}


def cases_for(port: Port, target: Target) -> list[Case]:
    """The random cases where the port is correct (unsupported ones included: they must say
    why), topped up with supported ones from a longer stream up to ``AT_LEAST`` that run."""
    cases = [c for c in random_cases(RANDOM_CASES, SEED) if port.correct(c)]
    adapter = target.new()
    def runs(c):
        return port.correct(c) and adapter.supports(c.spec, c.batch, c.dtype) is None
    missing = AT_LEAST - sum(map(runs, cases))
    extra = [c for c in random_cases(40 * RANDOM_CASES, SEED + 1) if runs(c)][:max(missing, 0)]
    return cases + extra


def near_kink_reason(detail: str) -> bool:
    return any(reason in detail for reason in KINK_REASONS)


def allowed(r, target: Target, case: Case) -> bool:
    if r.verdict == "pass":
        return True
    if r.verdict != "not_applicable":
        return False
    if r.check == "case":
        return r.detail == target.new().supports(case.spec, case.batch, case.dtype)
    if (r.check, r.tensor) == ("gradient", "input"):
        return not target.adapter.capabilities.input_gradient
    return r.check.startswith("fd_") and near_kink_reason(r.detail)


@pytest.mark.parametrize("name", PORTS)
def test_a_correct_implementation_never_fails_the_finite_difference_checks_on_random_cases(name):
    port = PORTS[name]
    target = port.target()
    driver = Driver(target)
    target = driver.target  # named by a locator, loaded by the driver: its class is known from here on
    ran, fd_rows, fd_not_applicable, wrong = 0, 0, [], []
    for case in cases_for(port, target):
        rows = run_case(driver, case, expectations=())
        ran += rows[0].check != "case"
        fd = [r for r in rows if r.check.startswith("fd_")]
        fd_rows += len(fd)
        fd_not_applicable += [f"{case.id} (seed {case.seed}): {r.detail}" for r in fd if r.verdict == "not_applicable"]
        wrong += [f"{case.id} (seed {case.seed}) {r.check} {r.tensor} {r.verdict}: {r.detail}"
                  for r in rows if not allowed(r, target, case)]
    print(f"\n{name}: {ran} random cases ran, {fd_rows} finite-difference rows, "
          f"{len(fd_not_applicable)} not applicable near a kink, {len(wrong)} not passing")
    assert not wrong, "\n".join(wrong[:10])
    assert ran >= AT_LEAST and fd_rows >= 2 * ran
    assert len(fd_not_applicable) <= MOST_NOT_APPLICABLE * fd_rows, "\n".join(fd_not_applicable[:10])


def near_kink(case: Case) -> bool:
    """A case whose first kinked layer has a bias to move its pre-activation with."""
    kinked = [layer for layer in case.spec.layers if layer.activation in KINKED_ACTIVATIONS]
    return bool(kinked) and kinked[0].bias


#: From this distance to the kink on, shrinking the step must keep every estimate.
SHRINKING_SUFFICES = 1e-4


@pytest.mark.parametrize("adapter", [ReferenceNumpy, ReferenceFloat32Only], ids=lambda a: a.name)
def test_no_finite_difference_check_fails_a_correct_relu_network_moved_close_to_its_kinks(adapter):
    driver = Driver(Target(adapter.name, adapter, "test"))
    cases = [c for c in random_cases(RANDOM_CASES, SEED) if near_kink(c)
             and adapter.capabilities.why_not(c.spec, c.batch, c.dtype) is None]
    verdicts, wrong, given_up = {"pass": 0, "not_applicable": 0}, [], []
    for case in cases:
        distance = 10.0 ** rng_for(case, "near_kink").uniform(-9, -2)
        data = placed_near_kink(generate(case), distance)
        for r in finite_difference_rows(driver, data, driver.observe(data).gradients):
            where = f"{case.id} (seed {case.seed}, distance {distance:.2g}) {r.check} {r.tensor}: {r.detail}"
            if r.verdict in verdicts and (r.verdict == "pass" or near_kink_reason(r.detail)):
                verdicts[r.verdict] += 1
                given_up += [where] if r.verdict == "not_applicable" and distance >= SHRINKING_SUFFICES else []
            else:
                wrong.append(where)
    print(f"\n{adapter.name}: {len(cases)} ReLU cases moved 1e-9 to 1e-2 from a kink; "
          f"finite-difference rows {verdicts}")
    assert not wrong, "\n".join(wrong[:10])
    assert not given_up, "\n".join(given_up[:10])
    assert len(cases) >= 100 and verdicts["pass"] >= 0.4 * sum(verdicts.values())


def observable(adapter: type, case: Case) -> bool:
    """Whether the fault makes any gradient differ from the truth by more than 1% of its tensor's
    largest entry (a doubled zero gradient, or the transpose of a symmetric one, is no fault)."""
    data = generate(case)
    truth, wrong = ReferenceNumpy(), adapter()
    for model in (truth, wrong):
        model.build(case.spec, data.params)
    if case.spec.loss is None:
        truth.forward(data.x), wrong.forward(data.x)
        pairs = zip(truth.backward(data.upstream).tensors().values(), wrong.backward(data.upstream).tensors().values())
    else:
        pairs = zip(truth.loss(data.x, data.targets)[1].tensors().values(),
                    wrong.loss(data.x, data.targets)[1].tensors().values())
    return any(g is not None and np.abs(g - h).max() > 0.01 * np.abs(g).max() for g, h in pairs)


@pytest.mark.parametrize("adapter", [DoubledBackward, float32_only(DoubledBackward), TransposedSquareWeight,
                                     float32_only(TransposedSquareWeight)], ids=lambda a: a.name)
def test_a_wrong_backward_fails_the_finite_difference_checks_on_every_random_case_it_shows_in(adapter):
    driver = Driver(Target(adapter.name, adapter, "test"))
    cases = [c for c in random_cases(RANDOM_CASES, SEED)
             if adapter.capabilities.why_not(c.spec, c.batch, c.dtype) is None and observable(adapter, c)]
    missed = []
    for case in cases:
        rows = run_case(driver, case, expectations=(), checks=Checks(torch=False))
        if not any(r.verdict == "fail" for r in rows if r.check.startswith("fd_")):
            missed.append(f"{case.id} (seed {case.seed}): "
                          + "; ".join(r.detail for r in rows if r.check == "fd_directional"))
    print(f"\n{adapter.name}: {len(cases)} random cases where the fault shows, {len(missed)} missed")
    assert len(cases) >= 200
    if "float32" in adapter.capabilities.dtypes - {"float64"}:
        assert len(missed) <= MOST_MISSED_IN_FLOAT32 * len(cases), "\n".join(missed[:10])
    else:
        assert not missed, "\n".join(missed[:10])
