# A stack thousands of frames deep: recurse(DEPTH) in the main thread, then at the bottom either
# sleep (default, for dump) or burn CPU (argument "spin", for record).
# Prints "ready DEPTH" from the bottom. Python 2.7 compatible.
import sys
import time

DEPTH = 5000
SPIN = "spin" in sys.argv[1:]
sys.setrecursionlimit(20000)


def bottom():
    sys.stdout.write("ready %d\n" % DEPTH)
    sys.stdout.flush()
    x = 0
    while True:
        if SPIN:
            x += 1  # LINE_SPIN
        else:
            time.sleep(3600)  # LINE_SLEEP


def recurse(n):
    if n == 0:
        bottom()  # LINE_BOTTOM_CALL
    recurse(n - 1)  # LINE_RECURSE


recurse(DEPTH)  # LINE_CALL
