# Memory grown by one function only, grow(), in one of four patterns, endlessly:
#
#   sleep    grow() allocates 2 MiB, then sleeps inside itself
#   return   grow() allocates 2 MiB and returns at once to a CPU loop (spin())
#   small    grow() builds many small objects (pymalloc arenas), then a CPU loop
#   thread   a second thread runs grow() (2 MiB, then a pause) while the main thread spins
#
# The memory is written (so it becomes resident), kept for a while, then let go, so RSS keeps
# rising and falling and grow() is the only code that raises it. Prints "ready" once started.
# GROW_PATTERNS_KEEP=N keeps N allocations instead of 40 (a large N: RSS only rises).
# Python 2.7 compatible.
import os
import sys
import threading
import time

# glibc serves a 2 MiB block from its own mapping and unmaps it when freed, but then raises its
# mapping threshold above 2 MiB and keeps later blocks in the heap, reused without new pages:
# RSS would stop growing after the first rounds. A fixed threshold keeps every round real
# growth. (Set before the interpreter starts: re-exec once, same pid.)
if os.environ.get("MALLOC_MMAP_THRESHOLD_") != "131072":
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "131072"
    os.execv(sys.executable, [sys.executable] + sys.argv)

try:
    range = xrange  # Python 2: no list of N ints
except NameError:
    pass

MIB = 1 << 20
KEEP = int(os.environ.get("GROW_PATTERNS_KEEP", "40"))  # allocations kept, the oldest dropped


def grow(kept, small, pause=0):
    if small:
        block = [(i, str(i)) for i in range(25000)]  # about 2 MiB of small objects
    else:
        block = b"x" * (2 * MIB)  # written whole: 512 new pages
    kept.append(block)
    if len(kept) > KEEP:
        del kept[0]
    if pause:
        time.sleep(pause)
    return block


def spin(seconds):
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        x += 1
    return x


def grower(kept, pause):
    while True:
        grow(kept, False)
        time.sleep(pause)


def main():
    mode = sys.argv[1]
    kept = []
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if mode == "thread":
        t = threading.Thread(target=grower, args=(kept, 0.01), name="grower")
        t.daemon = True
        t.start()
        while True:
            spin(1.0)
    while True:
        if mode == "sleep":
            grow(kept, False, 0.01)
        elif mode == "return":
            grow(kept, False)
            spin(0.01)
        else:
            grow(kept, True)
            spin(0.01)


main()
