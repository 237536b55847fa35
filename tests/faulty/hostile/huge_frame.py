"""Answers with a frame whose arrays claim 2^40 bytes."""
import json

from _honest import Correct
from _wire_tools import frame, grader_sockets


class HugeFrame(Correct):
    name = "huge_frame"

    def forward(self, x):
        header = json.dumps({"id": 1, "status": "ok", "body": {"$array": 0},
                             "arrays": [{"dtype": "float64", "shape": [1 << 37]}]}).encode()
        for sock in grader_sockets():
            sock.sendall(frame(header))
        raise SystemExit(0)
