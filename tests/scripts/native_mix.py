# Python code and C code side by side, for the proportions of `--native` against a recording
# without it: squeeze() spends its time in zlib's deflate, digest() in OpenSSL's SHA-256,
# tally() in the eval loop itself. Fixed work per round, no sleeping. Python 2.7 and 3.x.
import hashlib
import os
import sys
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


def main():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        squeeze()
        digest()
        tally(30000)


main()
