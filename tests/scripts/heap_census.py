"""Heap census workload: known numbers of objects, created on a signal.

Prints "ready" with a baseline in place; on SIGUSR1 creates N objects of each kind (held
until killed), then prints its ground truth as one JSON line and "created". The test takes a
census before and after and compares the difference with the truth.
With "grow", it instead adds 1,000 Point objects every 50 ms after "ready", up to 10 * N.

    heap_census.py N [grow]
"""
import gc
import json
import signal
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
PY2 = sys.version_info[0] == 2


class Point(object):
    def __init__(self, i):
        self.x = i


class Slotted(object):
    __slots__ = ("a", "b")

    def __init__(self, i):
        self.a = i
        self.b = None


go = []


def on_signal(signum, frame):
    go.append(True)


signal.signal(signal.SIGUSR1, on_signal)
kept = {}


def tracked_counts():
    counts = {}
    for o in gc.get_objects():
        name = type(o).__name__
        counts[name] = counts.get(name, 0) + 1
    return counts


def main():
    big = b"B" * 4096
    # No collection between the two censuses: startup garbage freed in between would show
    # as a loss.
    gc.collect()
    gc.disable()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if sys.argv[2:] == ["grow"]:
        grown = []
        while len(grown) < 10 * N:
            grown.extend(Point(i) for i in range(1000))
            time.sleep(0.05)
        while True:
            time.sleep(1)
    while not go:
        time.sleep(0.01)
    before = tracked_counts()
    if PY2:
        strs = [u"s%07d\u00e9" % i for i in range(N)]
        byts = [b"b%07d" % i for i in range(N)]
        str_name, bytes_name = "unicode", "str"
    else:
        strs = ["s%07d" % i for i in range(N)]
        byts = [b"b%07d" % i for i in range(N)]
        str_name, bytes_name = "str", "bytes"
    points = [Point(i) for i in range(N)]
    slotted = [Slotted(i) for i in range(N)]
    dicts = [{"k": i} for i in range(N)]
    lists = [[i] for i in range(N)]
    tuples = [(i, "t") for i in range(N)]
    large = [big + (b"%d" % i if not PY2 else str(i)) for i in range(100)]
    # 100 tuples too big for pymalloc; the collection untracks them (and the small tuples):
    # on no list, they are found through the list that holds them.
    large_tuples = [tuple(range(i, i + 2000)) for i in range(100)]
    gc.collect()
    kept.update(locals())
    after = tracked_counts()
    # Instance dicts exist as objects up to 3.10; from 3.11 attributes live in the object.
    instance_dicts = N if sys.version_info < (3, 11) else 0
    truth = {
        "__main__.Point": N,
        "__main__.Slotted": N,
        "dict": N + instance_dicts,
        "list": N,
        "tuple": N + 100,
        str_name: N,
        bytes_name: N + 100,
        "large_bytes": 100,
        "gc_delta": dict((k, after.get(k, 0) - before.get(k, 0))
                         for k in ("Point", "Slotted", "list", "tuple", "dict")),
    }
    sys.stdout.write(json.dumps(truth) + "\n")
    sys.stdout.write("created\n")
    sys.stdout.flush()
    while True:
        time.sleep(1)


main()
