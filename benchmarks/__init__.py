"""Benchmarks of the suite against torch.autograd.gradcheck and the classic loop (see table.py)."""
