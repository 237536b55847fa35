"""Seed 001, ported faithfully: a dense layer, ReLU, and softmax combined with categorical
cross-entropy (``LayerDense``, ``ActivationRELU``, ``ActivationSoftmaxLossCategoricalCrossentropy``),
and its adapter.

Conventions of the seed: weight ``(n_inputs, n_neurons)``, bias
``(1, n_neurons)``, layers that store their results as attributes
(``outputs``, ``dweights``, ``dbiases``, ``dinputs``) instead of returning
them, and a combined softmax/cross-entropy whose backward takes the softmax
outputs and the labels and divides by the number of samples.

The notebook draws its data with the ``nnfs`` package and calls
``nnfs.init()``, which patches NumPy for the whole process; this module does
neither (the golden test does, in a process of its own).
"""

from __future__ import annotations

import numpy as np

from conformance.contract.adapter import Adapter, Capabilities, Gradients
from conformance.running.guard import preserved_global_generator
from conformance.cases.spec import NetworkSpec, Params


class LayerDense:
    """ Fully connected Layer """
    def __init__(self,n_inputs,n_neurons):
        self.weights = 0.01 * np.random.randn(n_inputs,n_neurons)
        self.biases = np.zeros((1,n_neurons))

    def forward(self,inputs):
        """ y = mx + c """
        self.inputs = inputs
        self.outputs = np.dot(inputs,self.weights) + self.biases

    def backward(self,dvalues):
        self.dweights = np.dot(self.inputs.T,dvalues)
        self.dbiases = np.sum(dvalues,axis=0,keepdims=True)
        self.dinputs = np.dot(dvalues,self.weights.T)

class ActivationRELU:
    """ Rectified Linear Unit Activation Layer """
    def forward(self,inputs):
        """ y = max(0,x) """
        self.inputs = inputs
        self.outputs = np.maximum(0,inputs)

    def backward(self,dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0

class ActivationSoftmax:
    """ Softmax Activation Layer - moslty used for classification """
    def forward(self,inputs):
        """ y = exp(x) / sum(exp(x)) """
        exp_values = np.exp(inputs - np.max(inputs,axis=1,keepdims=True))
        prob_values = exp_values / np.sum(exp_values,axis=1,keepdims=True)

        self.outputs = prob_values

class Loss:
    def calculate(self,output,y):
        sample_loss = self.forward(output,y)
        mean_loss = np.mean(sample_loss)
        return mean_loss

class LossCategoricalCrossEntropy(Loss):
    """ Categorical Cross Entropy Loss """
    def forward(self,y_pred,y_true):
        """ y = -sum(y_true * log(y_pred)) """
        n_samples = len(y_pred)
        y_pred_clipped = np.clip(y_pred, 1e-7, 1 - 1e-7)
        correct_confidence = 0

        # taking out the correct true value from y_pred
        if len(y_true.shape) == 1:
            correct_confidence = y_pred_clipped[range(n_samples),y_true]
        elif len(y_true.shape) == 2:
            # this is for one-hot encoded labels
            correct_confidence = np.sum(y_pred_clipped * y_true,axis=1)

        negative_log_likelihood = -np.log(correct_confidence)
        return negative_log_likelihood

# softmax and cross-entropy loss are combined for optimzation
class ActivationSoftmaxLossCategoricalCrossentropy:
    def __init__(self):
        self.activation = ActivationSoftmax()
        self.loss = LossCategoricalCrossEntropy()

    def forward(self,inputs,y_true):
        self.activation.forward(inputs)
        self.outputs = self.activation.outputs
        return self.loss.calculate(self.outputs,y_true)

    def backward(self,dvalues,y_true):
        samples = len(dvalues)

        if len(y_true.shape) == 2:
            y_true = np.argmax(y_true,axis=1)

        self.dinputs = dvalues.copy()
        self.dinputs[range(samples),y_true] -= 1
        self.dinputs /= samples


def dense_layer(weights: np.ndarray, biases: np.ndarray) -> LayerDense:
    """A ``LayerDense`` holding the given parameters in the seed's layout. Its constructor
    draws initial weights from NumPy's global generator; that draw is undone."""
    with preserved_global_generator():
        layer = LayerDense(*weights.shape)
    layer.weights, layer.biases = weights, biases
    return layer


class SingleLayerRelu(Adapter):
    """A network as the notebook composes one: ``LayerDense``, then ``ActivationRELU`` where
    the layer is ReLU (no activation object for an identity layer); the combined
    softmax/cross-entropy class on top for the loss."""

    name = "single_layer_relu"
    description = "seed 001: LayerDense + ActivationRELU, combined softmax/cross-entropy; weight (n_in, n_out)"
    capabilities = Capabilities(
        activations=frozenset({"identity", "relu"}),
        output_activations=frozenset({"identity", "relu"}),
        bias=frozenset({True}),
        losses=frozenset({"softmax_cross_entropy"}),
        notes="every LayerDense has a bias; ReLU is the only activation it implements",
    )

    def build(self, spec: NetworkSpec, params: Params) -> None:
        self.steps = []
        for layer, w, b in zip(spec.layers, params.weights, params.biases):
            self.steps.append(dense_layer(w.T, b.reshape(1, -1)))
            if layer.activation == "relu":
                self.steps.append(ActivationRELU())

    def forward(self, x: np.ndarray) -> np.ndarray:
        outputs = x
        for step in self.steps:
            step.forward(outputs)
            outputs = step.outputs
        return outputs

    def backward(self, grad_output: np.ndarray) -> Gradients:
        dvalues = grad_output
        for step in reversed(self.steps):
            step.backward(dvalues)
            dvalues = step.dinputs
        dense = [step for step in self.steps if isinstance(step, LayerDense)]
        return Gradients(dvalues, tuple(d.dweights.T for d in dense), tuple(d.dbiases.reshape(-1) for d in dense))

    def loss(self, x: np.ndarray, targets: np.ndarray) -> tuple[float, Gradients]:
        loss_activation = ActivationSoftmaxLossCategoricalCrossentropy()
        loss = loss_activation.forward(self.forward(x), targets)
        loss_activation.backward(loss_activation.outputs, targets)
        return loss, self.backward(loss_activation.dinputs)
