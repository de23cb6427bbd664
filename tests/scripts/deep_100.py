# A 100-frame stack for the walker benches: <module> plus 99 nested recurse() calls, then the
# innermost call prints "ready" and sleeps, so the stack is complete before the handshake.
# Single-threaded, no imports beyond sys and time. Python 2.7 compatible.
import sys
import time

DEPTH = 100


def recurse(n):
    if n > 1:
        recurse(n - 1)  # LINE_RECURSE
        return
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        time.sleep(0.05)  # LINE_DEEP_LEAF


recurse(DEPTH - 1)
