"""A changed layer-sequence network, the form every layer-sequence hypothesis takes
(``sequence_hypotheses``, ``layer_hypotheses``), and how a layer is named in its words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.cases.layers import SequenceSpec
from conformance.cases.spec import CaseData
from conformance.diagnosis.hypotheses import WhatIf, predicted
from conformance.oracles import sequence


@dataclass(frozen=True)
class SequenceWhatIf(WhatIf):
    """A changed layer-sequence network: ``build()`` gives ``oracles.sequence.evaluate``'s
    keyword arguments (layer overrides, loss and penalty factors)."""

    def predict(self, data: CaseData) -> dict[str, np.ndarray]:
        return predicted(sequence.evaluate(data, **self.build()), data)


def words(spec: SequenceSpec, i: int) -> str:
    """Layer ``i`` with its kind: ``layer 3 (avgpool2d)``."""
    return f"layer {i} ({spec.layers[i].kind})"
