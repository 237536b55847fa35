"""Starts a reply and never finishes it."""
import time

from _honest import Correct
from _wire_tools import frame, grader_sockets


class ShortFrame(Correct):
    name = "short_frame"

    def forward(self, x):
        for sock in grader_sockets():
            sock.sendall(frame(b"{\"id\": 1", length=4096))
        time.sleep(10 ** 6)
