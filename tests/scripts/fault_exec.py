# Burns CPU in before_exec() until SIGUSR1, then ends as the arguments say:
#   fault_exec.py exit               exits normally (status 0)
#   fault_exec.py PROGRAM ARGS...    replaces itself with PROGRAM (os.execv), e.g. /bin/sleep 30
#                                    or another python and script
# Python 2.7 compatible.
import os
import signal
import sys


def go(signum, frame):
    sys.stdout.flush()
    if sys.argv[1] == "exit":
        sys.exit(0)
    os.execv(sys.argv[1], sys.argv[1:])


def before_exec():
    x = 0
    while True:
        x += 1  # LINE_SPIN


signal.signal(signal.SIGUSR1, go)
sys.stdout.write("ready\n")
sys.stdout.flush()
before_exec()
