# Time inside C from the standard library: zlib's deflate on 1 MiB of random data, in a loop,
# under a few Python frames. Prints "ready" first. Python 2.7 compatible.
import os
import sys
import zlib

DATA = os.urandom(1 << 16) * 16


def squeeze():
    return zlib.compress(DATA, 6)


def loop():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        squeeze()


loop()
