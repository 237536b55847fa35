"""Patches the worker so that its observations are honest and its finite-difference values
come back with one array more than the probes asked (a batched reply padded)."""
import conformance.running.worker as worker

from _honest import Correct

_real = worker.as_data


def _padded(method, result):
    data = _real(method, result)
    return data + [data[0]] if method == "evaluate" else data


worker.as_data = _padded


class PaddedReply(Correct):
    name = "padded_reply"
