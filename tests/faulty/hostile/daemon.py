"""Leaves processes behind: a child that spins forever and a double-forked daemon that keeps
trying to rewrite every targets.csv; otherwise honest and correct."""
import glob
import os
import subprocess
import sys
import time

from _honest import Correct

if os.environ.get("ATTACK_DAEMON_STARTED") is None:
    os.environ["ATTACK_DAEMON_STARTED"] = "1"
    subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
            while True:
                for path in glob.glob(os.path.join(root, "**", "targets.csv"), recursive=True):
                    try:
                        with open(path, "w") as file:
                            file.write("rewritten by a daemon\n")
                    except OSError:
                        pass
                time.sleep(0.05)
        os._exit(0)


class Daemon(Correct):
    name = "daemon"
