"""The worked example's student notebooks, built from seed 004's own notebook with nbformat.

``python -m conformance.examples.assignment_004.students [FOLDER]`` writes them
(the committed ``students/`` folder is this output). Each is the seed's code
with one change, and what grading it gives:

=====================  ==========================================================  =============
notebook               what it is                                                  verdict
=====================  ==========================================================  =============
``seed.ipynb``         the seed as handed in: bias gradient per sample (not        fail
                       summed over the batch), loss gradient without the mean's 1/n
``correct.ipynb``      both fixed                                                  pass
``bias_mean.ipynb``    the bias gradient averaged over the batch, not summed       fail
``raises.ipynb``       correct, but a demo cell raises (a shape mistake)           pass
``pip_and_plot.ipynb`` correct, with ``!pip install``, ``%matplotlib`` and a plot  pass
``hangs.ipynb``        correct, with a training loop that never ends               pass
``renamed.ipynb``      the network class named ``NeuralNet``                       not loaded
=====================  ==========================================================  =============
"""

from __future__ import annotations

import sys
from pathlib import Path

INTRO = """# Exercise Sheet 4, Task 3

In this assignment, we will implement a neural network "library", using Python and Numpy.
We now implement the `backward` functions for each of the module classes implemented last week."""

LIBRARY = '''#most of this is copied from last week ;)
import numpy as np
from typing import List, Tuple

class Sigmoid:
    def __init__(self):
        pass

    def forward(self, x: np.array) -> np.array:
        return 1 / (1 + np.exp(-x))

    def backward(self, x: np.array, grad: np.array = np.array([[1]])) -> np.array:
        return grad * (self.forward(x) * (1 - self.forward(x)))

class MeanSquaredError:
    def __init__(self):
        pass

    def forward(self, y_pred: np.array, y_true: np.array) -> float:
        return np.mean(0.5 * (y_true - y_pred) ** 2)

    def backward(self, y_pred: np.array, y_true: np.array, grad: np.array = np.array([[1]])) -> np.array:
        return  grad * (y_pred - y_true)

class FullyConnectedLayer:
    def __init__(self, input_size: int, output_size: int):
        self.input_size = input_size
        self.output_size = output_size

        self.weights = np.random.randn(self.input_size, self.output_size)
        self.bias = np.zeros((1, self.output_size))

    def forward(self, x: np.array) -> np.array:
        return np.matmul(x, self.weights) + self.bias

    def backward(self, x: np.array, grad: np.array = np.array([[1]])) -> Tuple[np.array,np.array,np.array]:
        x_grad = np.matmul(grad, self.weights.T)
        W_grad = np.matmul(x.T, grad)
        b_grad = grad

        return x_grad, W_grad, b_grad

class NeuralNetwork:
    def __init__(self,
                 input_size: int,
                 output_size: int,
                 hidden_sizes: List[int],
                 activation=Sigmoid):
        self.activ_inputs = None
        self.layer_inputs = None
        s = [input_size] + hidden_sizes + [output_size]
        self.layers = [FullyConnectedLayer(s[i], s[i+1]) for i in range(len(s) - 1)]
        self.activation = activation()

    def forward(self, x: np.array) -> np.array:
        self.layer_inputs = []
        self.activ_inputs = []

        for layer in self.layers[:-1]:
            self.layer_inputs.append(x)
            x = layer.forward(x)
            self.activ_inputs.append(x)
            x = self.activation.forward(x)

        #The last layer should not be using an activation function
        self.layer_inputs.append(x)
        x = self.layers[-1].forward(x)
        return x

    def backward(self, x: np.array, grad: np.array = np.array([[1]])) -> Tuple[np.array]:
        W_grads = []
        b_grads = []

        # Backward pass for the last layer
        grad, W_grad, b_grad = self.layers[-1].backward(self.layer_inputs[-1], grad)
        W_grads.append(W_grad)
        b_grads.append(b_grad)

        # Backward pass for the remaining layers
        for i in reversed(range(len(self.activ_inputs))):
            grad = self.activation.backward(self.activ_inputs[i], grad)
            grad, W_grad, b_grad = self.layers[i].backward(self.layer_inputs[i], grad)
            W_grads.append(W_grad)
            b_grads.append(b_grad)

        return grad, list(reversed(W_grads)), list(reversed(b_grads))
'''

DEMO = '''# Network Initialization
net = NeuralNetwork(2, 1, [2], Sigmoid)

# Setting the layer weights
net.layers[0].weights = np.array([[0.5, 0.75], [0.25, 0.25]])
net.layers[1].weights = np.array([[0.5], [0.5]])

loss_function = MeanSquaredError()
x = np.array([[1, 1]])
y = np.array([[0]])

pred = net.forward(x)
loss = loss_function.forward(pred, y)
print(f"Prediction: {pred}")
print(f"Loss: {loss}")

grad = loss_function.backward(pred, y)
grad, W_grads, b_grads = net.backward(x, grad)
print(f"Gradients of the first layer: \\n\\nW1:\\n{W_grads[0]}, \\n\\nb1: \\n{b_grads[0]}\\n")'''

BIAS_SEED = "        b_grad = grad\n"
BIAS_SUM = "        b_grad = np.sum(grad, axis=0, keepdims=True)\n"
BIAS_MEAN = "        b_grad = np.mean(grad, axis=0, keepdims=True)\n"
LOSS_SEED = "        return  grad * (y_pred - y_true)\n"
LOSS_MEAN = "        return  grad * (y_pred - y_true) / y_pred.size\n"

CORRECT = LIBRARY.replace(BIAS_SEED, BIAS_SUM).replace(LOSS_SEED, LOSS_MEAN)

RAISES = '''# Does it work for three inputs too?
pred3 = net.forward(np.array([[1, 1, 1]]))'''

PIP = "!pip install numpy matplotlib\n%matplotlib inline\nimport matplotlib.pyplot as plt"

PLOT = '''# Train on XOR-ish data and plot the loss curve
rng = np.random.default_rng(0)
X = rng.normal(size=(32, 2))
Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
net = NeuralNetwork(2, 1, [4], Sigmoid)
losses = []
for epoch in range(200):
    pred = net.forward(X)
    losses.append(loss_function.forward(pred, Y))
    _, W_grads, b_grads = net.backward(X, loss_function.backward(pred, Y))
    for layer, dW, db in zip(net.layers, W_grads, b_grads):
        layer.weights -= 0.5 * dW
        layer.bias -= 0.5 * db
plt.plot(losses)
plt.xlabel("epoch")
plt.ylabel("loss")
plt.show()'''

HANG = '''# Train until the loss is exactly zero
X = np.array([[0.0, 1.0], [1.0, 0.0]])
Y = np.array([[1.0], [0.0]])
epoch = 0
while loss_function.forward(net.forward(X), Y) >= 0:  # (meant: > 1e-6)
    _, W_grads, b_grads = net.backward(X, loss_function.backward(net.forward(X), Y))
    for layer, dW, db in zip(net.layers, W_grads, b_grads):
        layer.weights -= 0.1 * dW
        layer.bias -= 0.1 * db
    epoch += 1
print(epoch)'''

#: Each notebook's cells: ("md" | "code", source).
NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "seed": [("md", INTRO), ("code", LIBRARY), ("code", DEMO)],
    "correct": [("md", INTRO), ("code", CORRECT), ("code", DEMO)],
    "bias_mean": [("md", INTRO), ("code", CORRECT.replace(BIAS_SUM, BIAS_MEAN)), ("code", DEMO)],
    "raises": [("md", INTRO), ("code", CORRECT), ("code", DEMO), ("code", RAISES)],
    "pip_and_plot": [("code", PIP), ("md", INTRO), ("code", CORRECT), ("code", DEMO), ("code", PLOT)],
    "hangs": [("md", INTRO), ("code", CORRECT), ("code", DEMO), ("code", HANG)],
    "renamed": [("md", INTRO), ("code", CORRECT.replace("class NeuralNetwork:", "class NeuralNet:")
                                .replace("net = NeuralNetwork(", "net = NeuralNet(")),
                ("code", DEMO.replace("NeuralNetwork(", "NeuralNet("))],
}

#: What grading each one gives (the README's walk-through and the tests hold it to this).
EXPECTED = {"seed": "fail", "correct": "pass", "bias_mean": "fail", "raises": "pass",
            "pip_and_plot": "pass", "hangs": "pass", "renamed": "not loaded"}


def notebook(cells: list[tuple[str, str]]):
    import nbformat

    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.cells = [nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
                  for kind, text in cells]
    return book


def write(folder: Path | str, names: list[str] | None = None) -> list[Path]:
    """Write the notebooks (all, or those named) into ``folder``."""
    import nbformat

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(NOTEBOOKS):
        path = folder / f"{name}.ipynb"
        nbformat.write(notebook(NOTEBOOKS[name]), str(path))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m conformance.examples.assignment_004.students",
        description="Write the worked example's student notebooks, built from seed 004's notebook, into FOLDER.")
    parser.add_argument("folder", metavar="FOLDER", nargs="?", default=Path(__file__).parent / "students",
                        help="where to write them (default: the students/ folder beside this file)")
    for path in write(parser.parse_args(argv).folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
