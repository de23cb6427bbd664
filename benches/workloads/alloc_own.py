# An allocation-heavy program of our own: five functions each build and keep data of one kind,
# in fixed proportions, so both an in-process tracer and pyprobe's RSS growth have a clear top 5.
import sys

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 40


def make_records(n):
    return [{"id": i, "name": "record %d" % i, "tags": [i, i + 1]} for i in range(n)]


def make_blobs(n):
    return [b"x" * 200000 for _ in range(n)]


def make_lines(n):
    return [("line %d " % i) * 12 for i in range(n)]


def make_tables(n):
    return [list(range(500)) for _ in range(n)]


def make_pairs(n):
    return [(i, float(i)) for i in range(n)]


def main():
    kept = []
    for _ in range(ROUNDS):
        kept.append(make_records(20000))
        kept.append(make_blobs(40))
        kept.append(make_lines(15000))
        kept.append(make_tables(300))
        kept.append(make_pairs(10000))
    return kept


main()
