# A zombie to point pyprobe at: forks a child that exits at once and is never reaped. Prints
# "ready CHILD_PID" once the child is a zombie (state Z), then sleeps until killed.
# Python 2.7 compatible.
import os
import sys
import time

child = os.fork()
if child == 0:
    os._exit(0)


def state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (IOError, OSError, IndexError):
        return "?"


# Bounded: the child exits in microseconds.
deadline = time.time() + 10
while state(child) != "Z" and time.time() < deadline:
    time.sleep(0.001)
sys.stdout.write("ready %d\n" % child)
sys.stdout.flush()
while True:
    time.sleep(3600)
