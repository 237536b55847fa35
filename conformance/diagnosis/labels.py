"""One-hot labels shifted: a cross-entropy whose label vectors put class k at k + s (mod C),
the classic off-by-one of 1-based labels (``labels - 1``: class 0 wraps to the last) or an
encoding written ``k + 1``. The output is right; the loss and every gradient are those of the
shifted labels. The shift s is fitted: every one from 1 to C − 1 is tried and the one that
reproduces the case is named with its value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from conformance.cases.layers import SequenceSpec
from conformance.cases.spec import CaseData
from conformance.diagnosis.hypotheses import Factor, WhatIf, predicted
from conformance.oracles import sequence
from conformance.oracles.torch import evaluate

#: The losses whose targets are class labels encoded one-hot.
CROSS_ENTROPIES = ("softmax_cross_entropy",)


@dataclass(frozen=True)
class ShiftedLabels(WhatIf):
    """The intended network under labels moved by ``factor.value`` classes."""

    def predict(self, data: CaseData) -> dict[str, np.ndarray]:
        classes = data.case.spec.output_shape(1)[-1]
        moved = replace(data, targets=(data.targets + int(self.factor.value)) % classes)
        if isinstance(data.case.spec, SequenceSpec):
            return predicted(sequence.evaluate(moved), data)
        return predicted(evaluate(data.case.spec, data.params, data.x, data.upstream, moved.targets,
                                  conventions=data.case.conventions), data)


def _said(shift: int, classes: int) -> str:
    if classes == 2:
        return "the labels are flipped: class k is encoded as 1 − k"
    if shift == classes - 1:
        return ("the one-hot labels are shifted by one: class k is encoded as k − 1, class 0 as the last "
                f"(labels read as 1-based: labels − 1; C = {classes})")
    if shift == 1:
        return (f"the one-hot labels are shifted by one: class k is encoded as k + 1, the last as class 0 "
                f"(C = {classes})")
    return f"the one-hot labels are shifted: class k is encoded as k + {shift} (mod C = {classes})"


def shifted(data: CaseData) -> list[WhatIf]:
    """Each shift of a cross-entropy's class labels (none for other losses or label layouts)."""
    spec = data.case.spec
    if spec.loss not in CROSS_ENTROPIES or np.ndim(data.targets) != 1 or len(spec.output_shape(1)) != 2:
        return []
    classes, last = spec.output_shape(1)[-1], spec.depth - 1
    return [ShiftedLabels("labels_shifted", (), _said(s, classes), lambda: {}, factor=Factor(s, f"+{s}"), reach=last)
            for s in range(1, classes)]
