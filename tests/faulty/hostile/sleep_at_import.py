"""Hangs whoever imports it."""
import time

from _honest import Correct

time.sleep(10 ** 6)


class SleepAtImport(Correct):
    name = "sleep_at_import"
