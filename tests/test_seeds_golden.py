"""The ported seeds reproduce the numbers their notebooks printed, to the printed precision.

Each test replays a notebook's cells through the ported module, seeding NumPy's
global generator exactly where the notebook does (and restoring it afterwards).
A printed number stands for every value that prints the same way, so the
allowed difference is half a unit in its last printed digit. The nnfs cells
run in a process of their own, because ``nnfs.init()`` patches NumPy for the
whole process.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conformance.implementations import cached_input, class_layers, delta_recursion, single_layer_relu

ROOT = Path(__file__).resolve().parent.parent


def assert_as_printed(actual, printed, decimals):
    """``actual`` rounds to ``printed`` at ``decimals`` decimal places."""
    np.testing.assert_allclose(actual, printed, rtol=0, atol=0.5 * 10.0 ** -decimals * (1 + 1e-9))


def assert_as_printed_scientific(actual, printed, mantissa_decimals):
    """``actual`` rounds to ``printed`` (scientific notation, per element) at its mantissa's precision."""
    printed = np.asarray(printed, dtype=np.float64)
    exponents = np.floor(np.log10(np.where(printed == 0, 1.0, np.abs(printed))))
    half_unit = 0.5 * 10.0 ** (exponents - mantissa_decimals) * (1 + 1e-9)
    excess = np.abs(np.asarray(actual, dtype=np.float64) - printed) - half_unit
    worst = np.unravel_index(np.argmax(excess), printed.shape)
    assert excess[worst] <= 0, (f"element {[int(i) for i in worst]}: got {np.asarray(actual)[worst]!r}, "
                                f"printed {printed[worst]!r}")


@pytest.fixture
def notebook_seed():
    """``np.random.seed`` for the test, with the global generator restored afterwards."""
    state = np.random.get_state()
    yield np.random.seed
    np.random.set_state(state)


class TestSeed000ClassLayers:
    """Cells 284-290, all under the ``np.random.seed(0)`` of cell 284 and ``precision=4``."""

    def test_a_tanh_layer_gives_the_printed_output_and_weight_gradient(self, notebook_seed):
        notebook_seed(0)
        layer = class_layers.Layer(3, 4, class_layers.Act_Tanh)
        assert_as_printed(layer(np.array([[1., 2., 3.]])), [[0.5006, 0.2954, 0.0338, 0.4669]], 4)
        layer.backward(np.array([[1.0]]))
        assert_as_printed(layer.grad_weights, [[0.7494, 1.4989, 2.2483],
                                               [0.9128, 1.8255, 2.7383],
                                               [0.9989, 1.9977, 2.9966],
                                               [0.782, 1.5639, 2.3459]], 4)

    def test_the_three_layer_model_gives_the_printed_input_gradient_and_layer_gradients(self, notebook_seed):
        notebook_seed(0)
        class_layers.Layer(3, 4, class_layers.Act_Tanh)  # cell 285 draws first
        m = three_layer_model()
        m(np.array([[1., 2., 3.]]))
        assert_as_printed_scientific(m.backward(np.array([[-1.0, 2.0]])), [[-1.7500e-03, -3.0817e-03, 1.2401e-05]], 4)

        m = three_layer_model()  # cell 288 builds a second model from the same generator
        m(np.array([[1., 2., 3.]]))
        m.backward(np.array([[-1.0, 2.0]]))
        first, second, third = m.layers
        assert_as_printed(first.grad_weights, [[0.0014, 0.0027, 0.0041], [0, 0, 0], [0, 0, 0], [0, 0, 0]], 4)
        assert_as_printed(first.grad_biases, [[0.0014, 0, 0, 0]], 4)
        assert_as_printed(second.grad_weights, [[0.0033, 0, 0, 0], [0.0015, 0, 0, 0], [0.0078, 0, 0, 0],
                                                [-0.0009, 0, 0, 0], [0.0047, 0, 0, 0]], 4)
        assert_as_printed(second.grad_biases, [[0.0316, 0.0149, 0.0756, -0.0085, 0.0454]], 4)
        assert_as_printed(third.grad_weights, [[0.0042, -0.0019, -0.001, 0.0008, -0.0012],
                                               [-0.0084, 0.0037, 0.0021, -0.0016, 0.0024]], 4)
        assert_as_printed(third.grad_biases, [[-0.25, 0.5]], 4)


def three_layer_model():
    return class_layers.LinearModel(
        class_layers.Layer(3, 4, class_layers.Act_ReLU),
        class_layers.Layer(4, 5, class_layers.Act_Tanh),
        class_layers.Layer(5, 2, class_layers.Act_Sigmoid),
    )


class TestSeed001SingleLayerRelu:
    def test_a_dense_relu_layer_gives_the_printed_gradients(self):
        """Cells 2-4, through the ported classes (numpy's default precision, 8 decimals)."""
        dense = single_layer_relu.LayerDense(4, 3)
        dense.weights = np.array([[0.2, 0.8, -0.5, 1.0], [0.5, -0.91, 0.26, -0.5], [-0.26, -0.27, 0.17, 0.87]]).T
        dense.biases = np.array([[2.0, 3.0, 0.5]])
        relu = single_layer_relu.ActivationRELU()
        dense.forward(np.array([[1.0, 2.0, 3.0, 2.5], [2.0, 5.0, -1.0, 2.0], [-1.5, 2.7, 3.3, -0.8]]))
        relu.forward(dense.outputs)
        relu.backward(np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]]))
        dense.backward(relu.dinputs)
        assert_as_printed(relu.dinputs, [[1, 1, 1], [2, 0, 2], [3, 3, 3]], 8)
        assert_as_printed(dense.dinputs, [[0.44, -0.38, -0.07, 1.37],
                                          [-0.12, 1.06, -0.66, 3.74],
                                          [1.32, -1.14, -0.21, 4.11]], 8)
        assert_as_printed(dense.dweights, [[0.5, -3.5, 0.5], [20.1, 10.1, 20.1],
                                           [10.9, 12.9, 10.9], [4.1, 0.1, 4.1]], 8)
        assert_as_printed(dense.dbiases, [[6., 4., 6.]], 8)

    def test_the_spiral_data_network_gives_the_printed_loss_and_gradients(self):
        """Cells 13-16 with nnfs, in a separate process: ``nnfs.init()`` patches NumPy process-wide."""
        pytest.importorskip("nnfs")
        got = run_spiral_cells()
        assert_as_printed(got["loss"], 1.0986104, 7)
        assert_as_printed(got["accuracy"], 0.34, 8)
        assert_as_printed_scientific(got["dense1.dweights"], [[1.5766357e-04, 7.8368583e-05, 4.7324400e-05],
                                                              [1.8161038e-04, 1.1045573e-05, -3.3096312e-05]], 7)
        assert_as_printed_scientific(got["dense1.dbiases"], [[-3.60553473e-04, 9.66117223e-05, -1.03671395e-04]], 8)
        assert_as_printed_scientific(got["dense2.dweights"], [[5.44109462e-05, 1.07411419e-04, -1.61822361e-04],
                                                              [-4.07913431e-05, -7.16780924e-05, 1.12469446e-04],
                                                              [-5.30112993e-05, 8.58172934e-05, -3.28059905e-05]], 8)
        assert_as_printed_scientific(got["dense2.dbiases"], [[-1.0729185e-05, -9.4610732e-06, 2.0027859e-05]], 7)

    def test_importing_the_port_neither_imports_nnfs_nor_patches_numpy(self):
        script = ("import sys, numpy as np; dot, zeros = np.dot, np.zeros; "
                  "import conformance.implementations.single_layer_relu; "
                  "assert 'nnfs' not in sys.modules, 'nnfs imported'; "
                  "assert np.dot is dot and np.zeros is zeros, 'numpy patched'")
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


SPIRAL_CELLS = textwrap.dedent("""
    import json
    import numpy as np
    from conformance.implementations.single_layer_relu import (
        ActivationRELU, ActivationSoftmaxLossCategoricalCrossentropy, LayerDense)
    import nnfs
    from nnfs.datasets import spiral_data

    nnfs.init()

    X,y = spiral_data(samples=100,classes=3)

    dense1= LayerDense(2,3)
    activation1 = ActivationRELU()
    dense2 = LayerDense(3,3)
    loss_activation = ActivationSoftmaxLossCategoricalCrossentropy()

    dense1.forward(X)
    activation1.forward(dense1.outputs)
    dense2.forward(activation1.outputs)
    loss = loss_activation.forward(dense2.outputs,y)
    predictions = np.argmax(loss_activation.outputs,axis=1)
    accuracy = np.mean(predictions==y)

    loss_activation.backward(loss_activation.outputs,y)
    dense2.backward(loss_activation.dinputs)
    activation1.backward(dense2.dinputs)
    dense1.backward(activation1.dinputs)

    print(json.dumps({"loss": float(loss), "accuracy": float(accuracy),
                      "dense1.dweights": dense1.dweights.tolist(), "dense1.dbiases": dense1.dbiases.tolist(),
                      "dense2.dweights": dense2.dweights.tolist(), "dense2.dbiases": dense2.dbiases.tolist()}))
""")


def run_spiral_cells() -> dict:
    done = subprocess.run([sys.executable, "-c", SPIRAL_CELLS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_seed_003_delta_recursion_gives_the_printed_linear_values_and_layer_gradients():
    """The notebook's 2-2-2-1 ReLU network (every unit active, so the recursion's defect stays hidden)."""
    W = [np.array([[0.2, 0.5], [0.2, 0.4]]), np.array([[0.5, 0.7], [0.6, 0.8]]), np.array([[0.9], [1.0]])]
    activations, linear_values = delta_recursion.forward_pass(W, np.array([[0], [1]]), delta_recursion.relu)
    gradients = delta_recursion.backward_pass(W, activations, linear_values, np.array([[1]]),
                                              delta_recursion.relu_derivative)
    for got, printed in zip(linear_values, ([0.2, 0.4], [0.34, 0.46], [0.766])):
        assert_as_printed(got.ravel(), printed, 8)
    assert_as_printed(gradients[0], [[-0., -0.], [-0.5382, -0.62712]], 8)
    assert_as_printed(gradients[1], [[-0.08424, -0.0936], [-0.16848, -0.1872]], 8)
    assert_as_printed(gradients[2], [[-0.15912], [-0.21528]], 8)


def test_seed_004_cached_input_gives_the_printed_prediction_loss_and_gradients(notebook_seed):
    notebook_seed(0)  # the constructor draws weights the notebook then overwrites
    net = cached_input.NeuralNetwork(2, 1, [2], cached_input.Sigmoid)
    net.layers[0].weights = np.array([[0.5, 0.75], [0.25, 0.25]])
    net.layers[1].weights = np.array([[0.5], [0.5]])
    loss_function = cached_input.MeanSquaredError()
    x, y = np.array([[1, 1]]), np.array([[0]])

    pred = net.forward(x)
    loss = loss_function.forward(pred, y)
    grad, W_grads, b_grads = net.backward(x, loss_function.backward(pred, y))

    assert_as_printed(pred, [[0.70511864]], 8)
    assert loss == pytest.approx(0.24859614746399733, rel=1e-15)
    assert_as_printed(W_grads[0], [[0.07682091, 0.06931737], [0.07682091, 0.06931737]], 8)
    assert_as_printed(b_grads[0], [[0.07682091, 0.06931737]], 8)
    assert_as_printed(W_grads[1], [[0.47890156], [0.51548303]], 8)
    assert_as_printed(b_grads[1], [[0.70511864]], 8)
