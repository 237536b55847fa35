"""The short forms people read on the console and in summary.md: a failing case in one line of
at most ``LINE_LIMIT`` characters, each diagnosed cause said once per target, and every other
line about a target in as many (``bounded``: shortened in its front part, never its reason).

A row's full text stays where it is looked up: results.csv (columns ``detail`` and
``diagnosis``) and a student's feedback file. A line names the tensor, the worst element, both
values, the error and the tolerance there (the rule behind the tolerance and the count of
mismatched elements are left to results.csv); the diagnosis is not repeated on every line but
grouped by the bugs it names (``cause_lines``).
"""

from __future__ import annotations

import re
from typing import Iterable

#: The longest line a failing case gets.
LINE_LIMIT = 200
#: The fewest characters of a case id a line keeps (shortened in the middle past that).
CASE_ROOM = 48
#: How many causes a target's block names (the others are counted).
CAUSES = 3
#: How a comparison's detail states its error and tolerance at the worst element
#: (``judge.compare.mismatch_message`` writes it).
RATIO = re.compile(r"\|error\| ([0-9.eE+-]+|nan|inf) (within|exceeds) tolerance ([0-9.eE+-]+|nan|inf)")


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut at ``limit`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:max(limit - 1, 0)].rstrip() + "…"


def bounded(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` on one line in ``limit`` characters, shortened in its front part: a message says
    what at its start and why at its end (a broken rule's reason, an error's message), so a
    third of the room keeps the start and the rest the end, each cut at a space."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    front = text[:limit // 3]
    front = front.rsplit(" ", 1)[0] if " " in front else front
    room = limit - len(front) - 3
    back = text[len(text) - room:]
    if text[len(text) - room - 1] != " " and " " in back:
        back = back.split(" ", 1)[1]
    return f"{front} … {back}"


def middle(text: str, limit: int) -> str:
    """``text`` shortened in the middle to ``limit`` characters (its start and end kept)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def parts(text: str) -> tuple[str, str]:
    """A row's detail down to what a person reads first, as (what was found, how far off): a
    comparison's tensor, worst element and both values, then its error and the tolerance there;
    any other detail (an error, a broken rule) whole, and nothing: the line clips it."""
    text = " ".join(str(text).split())
    found = RATIO.search(text)
    if found is None:
        return text, ""
    return text[:found.start()].rstrip(" ("), f"(|error| {found.group(1)} {found.group(2)} tolerance {found.group(3)})"


def failure_line(head: str, case: str, text: str) -> str:
    """``head`` (the check and how many cases), the case and its detail, in ``LINE_LIMIT``
    characters: the case id is shortened in the middle first, then what was found; the error
    and its tolerance are kept whole."""
    found, off = parts(text)
    room = LINE_LIMIT - len(head) - 2 - len(off) - bool(off)
    shown = middle(case, max(CASE_ROOM, room - len(found)))
    # a comparison's values are cut at their end (the error and tolerance follow whole);
    # any other detail keeps its end, where its reason is
    found = clip(found, room - len(shown)) if off else bounded(found, room - len(shown))
    return f"{head}{shown}: " + " ".join(filter(None, (found, off)))


def badness(row) -> float:
    """Largest relative error; an error or a result that has no error figure counts as worst."""
    return float("inf") if row.verdict == "error" or row.max_rel_error != row.max_rel_error else row.max_rel_error


def cause_and_place(diagnosis: str) -> tuple[str, str]:
    """A diagnosis split into the bugs it names and where they show, its closing parenthesis
    (``diagnosis.diagnose.Diagnosis.line`` ends with it); without one, all of it is the cause."""
    text = diagnosis.strip()
    depth = 0
    for i in range(len(text) - 1, -1, -1) if text.endswith(")") else ():
        depth += (text[i] == ")") - (text[i] == "(")
        if depth == 0:
            cause = text[:i].rstrip()
            return (cause, text[i + 1:-1]) if cause else (text, "")
    return text, ""


# ---- one bug in words shared by every case it shows in (the class view's mistakes too) ----------

_INDEX = re.compile(r"\[\d+\]")
_REPEATED = re.compile(r"(\w+)\[·\](?:, \1\[·\])+")
_LOCATION = re.compile(r"^(?:layers? \d+(?:, \d+)*(?: and \d+)?(?: \(the output layer\))?|the output layer): ")
_VALUE = re.compile(r"×-?[\d.]+(?:e-?\d+)? = ")
_ONLY = re.compile(r" \(only th(?:is|ese)\)")
_SHAPE = re.compile(r"\((\d+, )*\d+,?\)")
#: A reshaping's shape clause, said only where the shapes differ (a square layer's are equal).
_SHAPE_CLAUSE = re.compile(r"shape \([·, ]*\) where \([·, ]*\) is due, and ")
_OUTPUT_LAYER = re.compile(r"layer \d+ \(the output layer\)")
#: A layer other than the first by its number: where it is (the first is also what it is).
_LAYER = re.compile(r"\blayer [1-9]\d*\b")
_DTYPE = re.compile(r"\b(?:float|int|uint)\d+\b")
_ALTERNATIVES = " — or, as this case's data cannot tell them apart, "


def outside_brackets(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where no bracket is open."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    return parts + [text[start:]]


def without_location(diagnosis: str) -> str:
    """The bugs a diagnosis names, without its closing ``(where it enters; wrong: …)`` and
    without the alternatives the case could not tell apart."""
    return cause_and_place(diagnosis)[0].split(_ALTERNATIVES, 1)[0]


def misconception(part: str) -> str:
    """One named bug without its case's particulars (where, shapes, dtypes, the factor's value,
    ``only these``)."""
    text = _LOCATION.sub("", part.strip())
    text = _REPEATED.sub(r"\1[·]", _INDEX.sub("[·]", text))
    text = _LAYER.sub("layer ·", _OUTPUT_LAYER.sub("the output layer", text))
    text = _SHAPE_CLAUSE.sub("", _SHAPE.sub(lambda m: re.sub(r"\d+", "·", m[0]), text))
    return _DTYPE.sub("·", _ONLY.sub("", _VALUE.sub("×", text))).strip()


def same_cause(cause: str) -> str:
    """A cause without what it takes from the case (``misconception`` of each bug it names):
    equal for one bug in any case."""
    return "; ".join(misconception(part) for part in outside_brackets(cause, "; "))


def cause_line(head: str, cause: str, case: str, place: str) -> str:
    """``head``, the cause, then (worst, the case: where it shows) in ``LINE_LIMIT`` characters:
    where it shows is cut first, then the case id in the middle; the cause last, by its later bugs."""
    room = LINE_LIMIT - len(head) - len(" (worst, )")
    first, *others = outside_brackets(cause, "; ")
    need = len(first) + len("; …") * bool(others)  # the first bug whole, the case id down to half its room
    shown = middle(case, max(CASE_ROOM, room - len(cause)))
    if room - len(shown) < need:
        shown = middle(case, max(CASE_ROOM // 2, room - need))
    cause = whole_bugs(cause, room - len(shown))
    left = room - len(cause) - len(shown) - len(": ")
    where = f": {clip(place, left)}" if place and left >= 12 and not cause.endswith("…") else ""
    return f"{head}{cause} (worst, {shown}{where})"


def whole_bugs(cause: str, limit: int) -> str:
    """The bugs a cause names (``; ``-separated), as many whole ones from the first as fit in
    ``limit`` characters, then ``; …``; a first bug longer than that is ``bounded``."""
    first, *others = outside_brackets(cause, "; ")
    room = limit - len("; …") * bool(others)
    text = first if len(first) <= room else bounded(first, room)
    for number, bug in enumerate(others, 1):
        if len(text) + 2 + len(bug) > limit - 3 * (number < len(others)):
            return f"{text}; …"
        text = f"{text}; {bug}"
    return text


def cause_lines(rows: Iterable, more_in: str) -> list[str]:
    """The diagnosis once per cause a target's cases share (recorded known defects included),
    most cases first: how many cases, the cause (the bugs named first: a case whose data
    cannot tell another from them has the same cause), and where it shows in the worst."""
    groups: dict[str, dict] = {}
    for r in rows:
        if r.verdict in ("fail", "expected_fail") and r.diagnosis:
            groups.setdefault(same_cause(without_location(r.diagnosis)), {}).setdefault(r.case, []).append(r)
    # a wrong value (a relative error) shows more of the bug than a wrong shape (no error figure)
    def worst(cases: dict) -> object:
        return max((r for found in cases.values() for r in found),
                   key=lambda r: (r.max_rel_error == r.max_rel_error, badness(r)))

    ranked = sorted(groups.values(), key=lambda cases: -len(cases))
    lines = []
    for cases in ranked[:CAUSES]:
        example = worst(cases)
        cause, place = without_location(example.diagnosis), cause_and_place(example.diagnosis)[1]
        count = f"the same cause in {len(cases)} cases" if len(cases) > 1 else "in 1 case"
        lines.append(cause_line(f"diagnosis, {count}: ", cause, example.case, place))
    if len(ranked) > CAUSES:
        more = len(ranked) - CAUSES
        lines.append(f"… and {more} more cause{'s' * (more > 1)} ({more_in})")
    return lines
