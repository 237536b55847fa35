"""Oracles: what the right answer is (PyTorch autograd) and what the implementation's
own forward implies (finite differences)."""
