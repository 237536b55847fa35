"""A name that would forge a console row and a spreadsheet formula."""
from _honest import Correct


class EvilName(Correct):
    name = '=HYPERLINK("http://example.invalid","pass")\n\x1b[32malice  pass\x1b[0m'
