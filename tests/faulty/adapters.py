"""Deliberately broken adapters, one fault each, built on the reference implementation:
the tests' one library of faults, addressed as ``tests/faulty/adapters.py:Class`` (a worker
process loads them again) or written out as a user's plug-in file (``faulty.sources``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np

from conformance.contract.adapter import Capabilities, Gradients
from conformance.implementations.reference_numpy import ReferenceNumpy


class Doubled(ReferenceNumpy):
    name = "doubled"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, (2 * grads.weights[0],) + grads.weights[1:], grads.biases)


class Narrow(ReferenceNumpy):
    name = "narrow"
    capabilities = Capabilities(min_depth=5)  # the grid's networks have 1 to 4 layers


class Raises(ReferenceNumpy):
    name = "raises"

    def backward(self, grad_output):
        raise ValueError("shapes (4,2) and (3,4) not aligned")


class Hangs(ReferenceNumpy):
    name = "hangs"

    def forward(self, x):
        time.sleep(3600)


class ExitsHard(ReferenceNumpy):
    name = "exits_hard"

    def backward(self, grad_output):
        os._exit(3)


class CallsSysExit(ReferenceNumpy):
    name = "calls_sys_exit"

    def forward(self, x):
        sys.exit(4)


class Crashes(ReferenceNumpy):
    name = "crashes"

    def forward(self, x):
        os.kill(os.getpid(), signal.SIGSEGV)


class EatsMemory(ReferenceNumpy):
    name = "eats_memory"

    def forward(self, x):
        hoard = []
        while True:
            hoard.append(np.empty(2**25))  # 256 MiB a step, without end


class ReturnsNaN(ReferenceNumpy):
    name = "returns_nan"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, (np.full_like(grads.weights[0], np.nan),) + grads.weights[1:], grads.biases)


class ReturnsInfOutput(ReferenceNumpy):
    name = "returns_inf_output"

    def forward(self, x):
        return super().forward(x) / 0.0


class WrongShape(ReferenceNumpy):
    name = "wrong_shape"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, tuple(w.T for w in grads.weights), grads.biases)


class WrongDtype(ReferenceNumpy):
    name = "wrong_dtype"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, tuple(w.astype(np.float16) for w in grads.weights), grads.biases)


class ReturnsNone(ReferenceNumpy):
    name = "returns_none"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(None, tuple(None for _ in grads.weights), grads.biases)


class ReturnsTuple(ReferenceNumpy):
    name = "returns_tuple"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return grads.input, grads.weights, grads.biases


class MissingGradients(ReferenceNumpy):
    name = "missing_gradients"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        return Gradients(grads.input, grads.weights[:1], grads.biases[:1])


class ModifiesArguments(ReferenceNumpy):
    name = "modifies_arguments"

    def forward(self, x):
        out = super().forward(x)
        x *= 2.0
        return out


class NonDeterministic(ReferenceNumpy):
    name = "non_deterministic"

    def backward(self, grad_output):
        grads = super().backward(grad_output)
        noise = np.random.default_rng().standard_normal(grads.weights[0].shape) * 1e-3
        return Gradients(grads.input, (grads.weights[0] + noise,) + grads.weights[1:], grads.biases)


class TampersWithTheInterpreter(ReferenceNumpy):
    """Correct gradients, but patches NumPy, reseeds, changes error settings and leaks a thread."""

    name = "tampers"

    def build(self, spec, params):
        import nnfs

        nnfs.init()  # patches np.dot and friends globally, seeds the global generator
        np.random.seed(12345)
        np.seterr(all="ignore")
        np.set_printoptions(precision=2)
        np.matmul_original = getattr(np, "matmul_original", np.matmul)
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
        super().build(spec, params)
