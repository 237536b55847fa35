"""Files of declared functions as a user (or a hostile submission) writes them, for
``conformance check``: each a text to write to a ``.py`` file."""

BIAS_MEAN = '''
import numpy as np

FUNCTIONS = {"affine_forward": {"inputs": {"x": (5, 4), "w": (4, 3), "b": (3,)}, "backward": "affine_backward",
                                "dtypes": ["float64"], "shapes": 1}}


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)
'''

#: Marks the interpreter that imports it, and answers the grader with what is no array.
HOSTILE = '''
import builtins

import numpy as np
from conformance.running import function_host

builtins.IMPORTED_BY_THE_GRADER = True
FUNCTIONS = {"square": {"inputs": {"x": (3,)}, "backward": "square_backward", "shapes": 1, "dtypes": ["float64"]}}


def square(x):
    return x * x


def square_backward(dout, x):
    return 2 * x * dout


def lie(self, key, inputs, differentiable, upstream):
    return {"outputs": ["all gradients agree"], "gradients": [None], "upstream": []}


function_host.FunctionHost.function_run = lie
'''

#: A forward that never returns.
HANGS = '''
import time

FUNCTIONS = {"stuck": {"inputs": {"x": (3,)}, "backward": "stuck_backward", "shapes": 1}}


def stuck(x):
    while True:
        time.sleep(1)


def stuck_backward(dout, x):
    return dout
'''
