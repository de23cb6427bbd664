# A busy target for `pyprobe top`: the main thread burns CPU in hot_loop() and, until it holds
# 64 MiB, grows a cache in grow_cache() so that RSS climbs. A second thread named "ticker"
# sleeps. Prints "ready" once running. Python 2.7 and 3.x.
import sys
import threading
import time

try:
    range = xrange  # Python 2: no list of N ints
except NameError:
    pass

CAP = 64 << 20
CHUNK = 16 << 10


def hot_loop(n):
    x = 0
    for i in range(n):
        x += i * i  # LINE_HOT
    return x


def grow_cache(cache, held):
    if held < CAP:
        cache.append(b"\x01" * CHUNK)  # LINE_GROW: written, so resident
        return held + CHUNK
    return held


def ticker():
    while True:
        time.sleep(0.1)


def main():
    t = threading.Thread(target=ticker, name="ticker")
    t.daemon = True
    t.start()
    cache = []
    held = 0
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        hot_loop(20000)
        held = grow_cache(cache, held)


main()
