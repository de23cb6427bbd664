# Demo program for the README: some CPU-bound work split across functions, and a cache that
# grows, for about `seconds` seconds (default 5). Python 2.7 and 3.x.
import sys
import time


def parse_record(i):
    return sum(ord(c) for c in str(i * 7919))


def checksum(n):
    total = 0
    for i in range(n):
        total += parse_record(i)
    return total


def fill_cache(cache, n):
    for i in range(n):
        cache.append("x" * 200 + str(i))


def main(seconds):
    cache = []
    end = time.time() + seconds
    while time.time() < end:
        checksum(20000)
        fill_cache(cache, 5000)
    sys.stdout.write("demo done: %d cached items\n" % len(cache))


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
