"""Ends the process it is imported in, with exit code 0, before any case runs."""
import os

from _honest import Correct

os._exit(0)


class ExitAtImport(Correct):
    name = "exit_at_import"
