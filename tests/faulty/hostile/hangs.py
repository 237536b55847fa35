"""Hangs in every forward (a training loop that never ends)."""
import time

from _honest import Correct


class Hangs(Correct):
    name = "hangs"

    def forward(self, x):
        time.sleep(10 ** 6)
