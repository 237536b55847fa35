"""Looks for the grading machine's secrets in its environment and shows them in its name."""
import os

from _honest import Correct


class ReadsSecrets(Correct):
    name = "secret=" + os.environ.get("GRADER_SECRET_TOKEN", "none")
