"""Answers supports() after 3 s every time (0.6 x the --timeout 5 it is graded with):
never a timeout, yet a whole grid of it would hold the grader for hours."""
import time

from _honest import Correct


class SlowSupports(Correct):
    name = "slow_supports"

    def supports(self, spec, batch, dtype):
        time.sleep(3.0)
        return super().supports(spec, batch, dtype)
