# Work inside C, from the standard library (for `--native`): zlib's deflate and hashlib's
# SHA-256 on big buffers, each called from its own Python function. Python 2.7 and 3.x.
import hashlib
import os
import sys
import zlib

DATA = os.urandom(1 << 16) * 16
BLOB = os.urandom(1 << 20)


def squeeze():
    return zlib.compress(DATA, 6)


def digest():
    h = hashlib.sha256()
    for _ in range(8):
        h.update(BLOB)
    return h.hexdigest()


def main():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        squeeze()
        digest()


main()
