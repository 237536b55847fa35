"""Declares away biases and everything but one kind of case, so that almost nothing runs."""
from _honest import Correct
from conformance import Capabilities


class DeclaresAway(Correct):
    name = "declares_away"
    capabilities = Capabilities(activations={"identity"}, output_activations={"identity"}, bias={False},
                                dtypes={"float32"})
