"""Patches the worker so that every reply is something the request cannot get back: a
string for an observation, garbage for finite-difference values."""
import conformance.running.worker as worker

from _honest import Correct

_real = worker.as_data


def _garbage(method, result):
    if method == "observe":
        return "all good"
    if method == "evaluate":
        return [[float("nan"), "x"]]
    return _real(method, result)


worker.as_data = _garbage


class WrongShapeReply(Correct):
    name = "wrong_shape_reply"
