# A busy 100-frame-deep stack: <module> plus 99 nested recurse() calls, the innermost spinning.
# Prints "ready" once the stack is complete. Python 2.7 compatible.
import sys


def recurse(n):
    if n > 1:
        return recurse(n - 1)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    x = 0
    while True:
        x += 1


recurse(99)
