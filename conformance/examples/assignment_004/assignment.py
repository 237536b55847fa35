"""Exercise sheet 4, task 3 (seed 004): the instructor's assignment adapter.

Students hand in a notebook defining ``NeuralNetwork``, ``FullyConnectedLayer``,
``Sigmoid`` and ``MeanSquaredError`` as the exercise sheet fixes them: weight
``(in, out)``, bias ``(1, out)``, sigmoid on the hidden layers and none on the
output, ``backward(x, grad)`` returning ``(grad_x, W_grads, b_grads)``, and the
loss ``mean(0.5 * (y_true - y_pred) ** 2)``. This adapter reaches each student's
classes through ``self.submission`` and translates to the suite's layout.

Grade with:  conformance grade assignment.py students/
"""

import numpy as np

from conformance import Adapter, Capabilities, Gradients

# ---- what grading fixes (read by the grader without running this file) ----------------
API = ("NeuralNetwork", "FullyConnectedLayer", "Sigmoid", "MeanSquaredError")
REQUIRE = "bias,sigmoid,float64,depth>=2,half_mse"
POINTS = {"forward": 2, "gradient": 4, "loss": 2, "bias,depth>=2": 2}
# The smallest failing case, in the feedback, is written as these calls of the student's own
# classes (the case's arrays W0, b0, x, ... are in PyTorch's layout; a literal brace is doubled).
REPRODUCE = {
    "build": "net = NeuralNetwork({n_in}, {n_out}, {hidden}, Sigmoid)\n"
             "for layer, W, b in zip(net.layers, {weights}, {biases}):\n"
             "    layer.weights, layer.bias = W.T.copy(), b.reshape(1, -1).copy()",
    "backward": "output = net.forward(x)\n"
                "grad_x, W_grads, b_grads = net.backward(x, grad_output)",
    "loss": "output = net.forward(x)\n"
            "loss = MeanSquaredError().forward(output, targets)\n"
            "grad_x, W_grads, b_grads = net.backward(x, MeanSquaredError().backward(output, targets))",
    "compare": "print('output: yours, then PyTorch\\'s', output, expected_output, sep='\\n')\n"
               "for l, (dW, db) in enumerate(zip(W_grads, b_grads)):\n"
               "    print(f'layer {{l}}: your dW transposed, then PyTorch\\'s', np.asarray(dW).T, "
               "{expected_weights}[l], sep='\\n')\n"
               "    print(f'layer {{l}}: your db, then PyTorch\\'s', np.asarray(db), {expected_biases}[l], sep='\\n')",
}


class Sheet4(Adapter):
    """The exercise's API, as the sheet fixes it; ``self.submission`` is the student's notebook."""

    name = "sheet4"
    description = "exercise sheet 4, task 3: NeuralNetwork/FullyConnectedLayer, sigmoid hidden, half MSE"
    capabilities = Capabilities(
        activations=frozenset({"sigmoid"}),
        output_activations=frozenset({"identity"}),
        bias=frozenset({True}),
        losses=frozenset({"half_mse"}),
        notes="the sheet's network: sigmoid hidden layers, no output activation, biases everywhere",
    )

    def build(self, spec, params):
        student, sizes = self.submission, spec.sizes
        # The constructor's random initial weights are overwritten at once. build runs for every
        # finite-difference evaluation: saving and restoring NumPy's global generator around it
        # took a third of each student's grading time, and protected nothing graded.
        self.net = student.NeuralNetwork(sizes[0], sizes[-1], list(sizes[1:-1]), student.Sigmoid)
        for layer, w, b in zip(self.net.layers, params.weights, params.biases):
            layer.weights, layer.bias = w.T.copy(), b.reshape(1, -1).copy()

    def forward(self, x):
        self.x = x
        return self.net.forward(x)

    def backward(self, grad_output):
        grad_x, W_grads, b_grads = self.net.backward(self.x, grad_output)
        return Gradients(grad_x, tuple(np.asarray(g).T for g in W_grads),
                         tuple(_bias(g) for g in b_grads))

    def loss(self, x, targets):
        loss_function = self.submission.MeanSquaredError()
        pred = self.forward(x)
        value = loss_function.forward(pred, targets)
        return value, self.backward(loss_function.backward(pred, targets))


def _bias(b_grad):
    """The sheet's ``(1, out)`` as ``(out,)``; another shape is handed over for the suite to judge."""
    b_grad = np.asarray(b_grad)
    return b_grad.reshape(-1) if b_grad.ndim == 2 and b_grad.shape[0] == 1 else b_grad
