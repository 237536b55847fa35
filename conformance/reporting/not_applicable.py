"""The cases that did not apply, as two small files beside ``results.csv``.

``not_applicable.csv``: one row per implementation × reason (in the order the run went),
with how many cases and the digest of their list; ``not_applicable_cases.csv``: each
distinct list once, a case a row. A graded class shares its lists (the assignment decides
which cases apply), so a class of a hundred writes a dozen lists, not a row per student and
case. ``tables`` makes both; ``judge.skipped.NotApplicable`` is what they hold.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from conformance.judge.skipped import NotApplicable

SUMMARY = "not_applicable.csv"
CASE_LISTS = "not_applicable_cases.csv"
SUMMARY_COLUMNS = ("implementation", "reason", "cases", "case_list")
LIST_COLUMNS = ("case_list", "case")


def list_digest(cases: tuple[str, ...]) -> str:
    """The name of a list of cases: a digest of the ids, in order."""
    return hashlib.sha256("\n".join(cases).encode()).hexdigest()[:16]


def tables(skipped: NotApplicable) -> dict[str, pd.DataFrame]:
    """Both files' tables, by file name."""
    summary, lists = [], {}
    for entry in skipped.entries:
        digest = list_digest(entry.cases)
        summary.append((entry.implementation, entry.reason, len(entry.cases), digest))
        lists.setdefault(digest, entry.cases)
    members = [(digest, case) for digest, cases in lists.items() for case in cases]
    return {SUMMARY: pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)),
            CASE_LISTS: pd.DataFrame(members, columns=list(LIST_COLUMNS))}


#: The first line of each file (how a file this suite wrote is told from another).
HEADERS = {SUMMARY: ",".join(SUMMARY_COLUMNS), CASE_LISTS: ",".join(LIST_COLUMNS)}
