# Runs a fixed work loop forever and reports its throughput once per window of argv[1] seconds
# (default 0.25), one line per window:
#     rate <iterations per second> <iterations> <window start> <window end> <CPU seconds>
# with the window's bounds in time.time() seconds, so that a reader can drop windows that overlap a
# profiler attaching or detaching, and the CPU time the process used in the window (os.times(), so
# in clock ticks), so that it can tell when the target did not have a core to itself. Prints "ready" first. Exits after argv[2] seconds (default 3600)
# or when its stdout is closed. Used to measure how much a profiler slows its target: the profiler
# is attached and detached while it runs, and windows with and without it are compared.
# Python 2.7 and 3.x.
import os
import sys
import time


def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def main(window, limit):
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    first = time.time()
    start = first
    cpu = sum(os.times()[:2])
    count = 0
    while True:
        work(1000)
        count += 1
        now = time.time()
        if now - start >= window:
            try:
                used = sum(os.times()[:2])
                sys.stdout.write("rate %f %d %.6f %.6f %.3f\n"
                                 % (count / (now - start), count, start, now, used - cpu))
                sys.stdout.flush()
            except (IOError, OSError):  # the reader went away
                return
            if now - first >= limit:
                return
            start = time.time()
            cpu = sum(os.times()[:2])
            count = 0


main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.25,
     float(sys.argv[2]) if len(sys.argv) > 2 else 3600.0)
