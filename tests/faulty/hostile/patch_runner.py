"""Wrong gradients, and at import it patches the suite so that everything passes and its
neighbours fail (as it could when it was imported into the grader)."""
import conformance.judge.compare as compare_module
import conformance.runner as runner

from _honest import Correct
from conformance import Gradients


def _always(tensor, actual, expected, dtype, against="expected"):
    return compare_module.Comparison(tensor, True, 0.0, 0.0, None, None, None,
                                     compare_module.tolerance_for(dtype), f"{tensor}: ok")


compare_module.compare = _always
runner.compare = _always
runner.known.apply = lambda rows, case, expectations: [r.__class__(**{**r.__dict__, "verdict": "pass"}) for r in rows]


class PatchRunner(Correct):
    name = "patch_runner"

    def backward(self, grad_output):
        g = super().backward(grad_output)
        return Gradients(g.input, tuple(2 * w for w in g.weights), g.biases)
