# For launch mode's endings: runs endless_work() until something ends it; never exits by itself.
# Prints "endless.py pid N" first (and creates $ENDLESS_READY, if set). Ctrl-C (SIGINT) makes it print "endless.py: KeyboardInterrupt"
# and exit 0. With the argument "stubborn" it ignores SIGINT and SIGTERM (printing
# "endless.py: ignored signal N" for each), so that only SIGKILL ends it.
# Half of the time it sleeps, to leave the CPU to the other targets of a test run.
# Python 2.7 compatible.
import os
import signal
import sys
import time


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def ignore(signum, frame):
    say("endless.py: ignored signal %d" % signum)


def endless_work():
    x = 0
    while True:
        for i in range(2000):
            x += i  # LINE_WORK
        time.sleep(0.002)  # LINE_SLEEP


if sys.argv[1:] == ["stubborn"]:
    signal.signal(signal.SIGINT, ignore)
    signal.signal(signal.SIGTERM, ignore)
say("endless.py pid %d" % os.getpid())
# ENDLESS_READY=PATH: create PATH once the pid is said and SIGINT is caught below (a test waits
# for it instead of guessing how long a busy machine's start-up takes).
if os.environ.get("ENDLESS_READY"):
    open(os.environ["ENDLESS_READY"], "w").close()
try:
    endless_work()
except KeyboardInterrupt:
    say("endless.py: KeyboardInterrupt")
    sys.exit(0)
