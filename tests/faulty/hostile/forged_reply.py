"""Wrong gradients; before its real reply it writes a well-formed reply of its own making,
for a request id it guesses, carrying gradients it hopes will pass."""
import json

from _honest import Correct
from _wire_tools import frame, grader_sockets
from conformance import Gradients


class ForgedReply(Correct):
    name = "forged_reply"

    def backward(self, grad_output):
        g = super().backward(grad_output)
        header = json.dumps({"id": 999999, "status": "ok", "body": {"reason": None}, "arrays": []}).encode()
        for sock in grader_sockets():
            sock.sendall(frame(header))
        return Gradients(g.input, tuple(2 * w for w in g.weights), g.biases)
