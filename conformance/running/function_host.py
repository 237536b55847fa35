"""The worker's side of ``conformance check`` on a file of declared functions: the file is
executed here (in the sandboxed worker only), and each request names what to call by plain
data — the function's name in the file, its backward's, whether it is a layer class (made
with no arguments) and its parameters — and gets plain data back: arrays and None, never an
object of the file's. The grading process reads the declarations from the file's text and
validates every reply (``running.function_worker``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from conformance.contract.adapter import Capabilities
from conformance.running.modules import LoadError, module_from_file
from conformance.running.subjects import NumpySubject, TorchSubject

#: What names a callable of the file: (name, backward's name or None, a layer class?, its
#: parameters, the NumPy forward's cache flag).
Key = tuple[str, "str | None", bool, tuple[str, ...], "bool | None"]


class FunctionHost:
    """The declared functions of one file, called by name."""

    name = "functions"
    description = "functions with a hand-written backward"
    capabilities = Capabilities()

    def __init__(self, module: Any):
        self.module = module
        self._subjects: dict[tuple, Any] = {}

    @classmethod
    def load(cls, path: str, shown: str) -> FunctionHost:
        return cls(module_from_file(Path(path), shown))

    def _named(self, name: str) -> Any:
        found = getattr(self.module, name, None)
        if found is None:
            raise LoadError(f"the file defines no {name!r}")
        return found

    def subject(self, key: Sequence) -> Any:
        key = tuple(tuple(k) if isinstance(k, list) else k for k in key)
        if key not in self._subjects:
            name, backward, layer, params, cache = key
            fn = self._named(name)
            if layer:
                instance = fn()
                self._subjects[key] = NumpySubject(instance.forward, instance.backward, layer=instance, params=params)
            elif backward is not None:
                self._subjects[key] = NumpySubject(fn, self._named(backward), cache)
            else:
                self._subjects[key] = TorchSubject(fn)
        return self._subjects[key]

    def layer_params(self, key: Sequence) -> dict[str, np.ndarray]:
        """A layer's parameters as its constructor made them (their shapes describe them)."""
        subject = self.subject(key)
        return {name: np.asarray(subject.layer.params[name] if isinstance(getattr(subject.layer, "params", None), dict)
                                 else getattr(subject.layer, name)) for name in subject.params}

    def function_run(self, key: Sequence, inputs, differentiable, upstream) -> dict:
        ran = self.subject(key).run(inputs, differentiable, upstream)
        return {"outputs": list(ran.outputs), "gradients": list(ran.gradients), "upstream": list(ran.upstream)}

    def function_at(self, key: Sequence, inputs, differentiable, upstream, dtype: str) -> dict:
        self.subject(key).at(inputs, differentiable, upstream, dtype)
        return {}

    def function_values(self, key: Sequence, probes) -> list[np.ndarray]:
        return [np.asarray(v, dtype=np.float64) for v in self.subject(key).values(probes)]
