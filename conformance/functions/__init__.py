"""Checking any function with a hand-written backward: a ``torch.autograd.Function``, a NumPy
forward/backward pair or a layer object, against finite differences of its own forward."""
