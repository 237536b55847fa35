"""Showing text a submission chose (its file name, its exception messages) as data.

A target's name and whatever its code raised reach Markdown files (``summary.md``,
students' feedback) and pictures. There they are text, never markup:

* ``markdown`` escapes what would make a link, an image, raw HTML or a code span
  (``[ ] < > ` \\``), so no ``<script>``, ``javascript:`` link or remote image of a
  submission reaches a page that renders the file; a pair of backticks stays a
  code span (whose content Markdown shows literally), so a note quoting a skipped
  notebook line reads as code; ``|`` and line breaks are the table cell's
  business (``markdown.cell``);
* ``feedback_file`` turns a path into a file name injectively: percent-encoded
  (every byte outside ``[A-Za-z0-9_.~-]`` as ``%XX``, ``%`` itself too), so
  ``alice smith.ipynb`` (``alice%20smith.ipynb.md``) and ``alice_smith.ipynb``
  never share a file;
* ``spreadsheet`` keeps a CSV cell from being read as a formula by a spreadsheet
  (a leading ``= + - @`` or control character gets a ``'`` before it).

HTML is escaped with ``html.escape`` where it is written; plots draw labels
with mathtext off (``plots``).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

_MARKUP = re.compile(r"([\\`\[\]<>])")
_CODE = re.compile(r"`([^`]+)`")
#: Longer names are cut and end in a digest of the whole path (file systems allow 255 bytes).
MAX_STEM = 180


def markdown(text: object) -> str:
    """``text`` as Markdown that renders as that text: no markup of its own but code spans."""
    parts = _CODE.split(str(text))  # text, code, text, code, …, text
    return "".join(f"`{part}`" if number % 2 else _MARKUP.sub(r"\\\1", part) for number, part in enumerate(parts))


#: Every name ``feedback_file`` gives (what ``quote`` leaves, its escapes, the digest's hyphen),
#: and nothing else: a merge reads back only such files.
FEEDBACK_NAME = re.compile(rf"^(?!\.)[A-Za-z0-9_.~%\-]{{1,{MAX_STEM}}}\.md$")


def feedback_file(source: str) -> str:
    """The feedback file of the submission known as ``source``: one per path, never shared."""
    stem = quote(source, safe="")
    if stem.startswith("."):
        stem = "%2E" + stem[1:]  # never hidden, never . or ..
    if len(stem) > MAX_STEM:
        stem = stem[:MAX_STEM - 17] + "-" + hashlib.sha256(source.encode()).hexdigest()[:16]
    return f"{stem or '_'}.md"


def spreadsheet(text: object) -> object:
    """A CSV cell a spreadsheet shows as the text it is, never runs as a formula; numbers as they are."""
    if isinstance(text, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
