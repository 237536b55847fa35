"""``ImplementationDriver``: what the harness asks of one implementation, whether it runs in
this process (``running.driver.Driver``) or in a sandboxed worker
(``running.isolation.WorkerDriver``). Oracles, the runner and the timing phase are written
against this protocol, never against one of the two classes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    import numpy as np

    from conformance.cases.spec import Case, CaseData
    from conformance.contract.adapter import Capabilities
    from conformance.running.driver import Observation, Probe
    from conformance.running.timing import Rules, Timed


class ImplementationDriver(Protocol):
    """One implementation behind its adapter; every method raises ``ImplementationFault`` when
    the implementation gives no usable answer."""

    #: The target's identity (the name it was given by).
    name: str

    @property
    def capabilities(self) -> Capabilities: ...

    def describe(self) -> dict:
        """The adapter's name, class, description, capabilities and load notes."""

    def start_case(self) -> None:
        """A new case begins (a worker starts its wall-time budget here)."""

    def expect(self, cases: Sequence[Case]) -> None:
        """The cases about to run (a worker asks ``supports`` for all of them in one request)."""

    def supports(self, case: Case) -> str | None:
        """None when the case applies, else the adapter's reason."""

    def observe(self, data: CaseData) -> Observation:
        """Output, loss, gradients and the contract's observations on one case."""

    def evaluate(self, data: CaseData, probes: Sequence[Probe]) -> list[np.ndarray]:
        """The implementation's objective at perturbed points (the finite differences' calls)."""

    def timings(self, data: CaseData, rules: Rules) -> tuple[Timed, ...]:
        """Forward and backward timed next to PyTorch on one case."""

    def close(self) -> None:
        """Release what the driver holds (a worker's process)."""
