# Python code and C code side by side, for the proportions of `--native` against a recording
# without it: squeeze() spends its time in zlib's deflate, digest() in OpenSSL's SHA-256,
# tally() in the eval loop itself. Fixed work per round, no sleeping. Python 2.7 and 3.x.
#
# The split drifts over time on a VM (the same recording mode gave tally 40% and 48% a minute
# apart), so the script keeps the truth: on SIGUSR1 it prints "totals S D T", the wall seconds
# spent in squeeze, digest and tally so far (the call in progress included). The difference of
# two such lines is the exact split of a recording window.
import hashlib
import os
import signal
import sys
import time
import zlib

try:
    range = xrange  # Python 2: no list of N ints
except NameError:
    pass

DATA = os.urandom(1 << 14) * 8
BLOB = os.urandom(1 << 18)


def squeeze():
    return zlib.compress(DATA, 6)


def digest():
    h = hashlib.sha256()
    for _ in range(6):
        h.update(BLOB)
    return h.hexdigest()


def tally(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


# Seconds per function so far, and (function running or None, since when): replaced whole, in
# one assignment, so that the SIGUSR1 handler never sees half an update.
state = [((0.0, 0.0, 0.0), None, 0.0)]


def report(signum, frame):
    now = time.time()
    totals, running, since = state[0]
    totals = list(totals)
    if running is not None:
        totals[running] += now - since
    sys.stdout.write("totals %.6f %.6f %.6f\n" % tuple(totals))
    sys.stdout.flush()


def main():
    signal.signal(signal.SIGUSR1, report)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    work = ((squeeze, ()), (digest, ()), (tally, (30000,)))
    totals = (0.0, 0.0, 0.0)
    while True:
        for i, (function, args) in enumerate(work):
            began = time.time()
            state[0] = (totals, i, began)
            function(*args)
            ended = time.time()
            totals = tuple(t + (ended - began if j == i else 0.0) for j, t in enumerate(totals))
            state[0] = (totals, None, ended)


main()
