"""Writes into the temporary folder until it cannot, then behaves."""
import os
import tempfile

from _honest import Correct

try:
    with open(os.path.join(tempfile.gettempdir(), "PWNED_fill"), "wb") as file:
        for _ in range(1024):
            file.write(b"\0" * (1 << 20))
except OSError:
    pass


class FillTmp(Correct):
    name = "fill_tmp"
