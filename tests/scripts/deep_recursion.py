# A deep stack for `dump`: recurse(500) in the main thread, then sleep at the bottom.
# Python 2.7 compatible.
import sys
import time

DEPTH = 500


def recurse(n):
    if n == 0:
        sys.stdout.write("ready %d\n" % DEPTH)
        sys.stdout.flush()
        while True:
            time.sleep(3600)  # LINE_BOTTOM
    recurse(n - 1)  # LINE_RECURSE


recurse(DEPTH)  # LINE_CALL
