"""Honest and correct."""

from _honest import Correct


class Alice(Correct):
    name = "alice"
