# Memory grown inside C, by two Python functions called in turn: unpack() grows it in zlib
# (inflate writing its output, then the bytes object it is copied to) and repeat() in the
# interpreter's bytes repetition (memset). With --native the growth is charged down to those C
# functions, each under its own Python caller. Python 2.7 compatible. Prints "ready", runs
# ROUNDS rounds (default 24) of 4 MiB each, then exits.
import sys
import time
import zlib

SIZE = 4 << 20
PACKED = zlib.compress(b"\x01" * SIZE)
kept = []


def unpack():
    kept.append(zlib.decompress(PACKED))


def repeat():
    kept.append(b"\x02" * SIZE)


def main(rounds):
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for _ in range(rounds):
        unpack()
        repeat()
        time.sleep(0.02)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 24)
