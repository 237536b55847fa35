"""The honest network every submission here builds on: the suite's reference MLP."""

from conformance.implementations.reference_numpy import ReferenceNumpy as Correct

__all__ = ["Correct"]
