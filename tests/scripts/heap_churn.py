"""Heap churn workload: a steady population of N Point objects, while objects are created and
freed as fast as the loop goes (each step replaces one Point and makes and drops dicts, lists,
tuples and strings). Prints "ready N" once the population is in place.

    heap_churn.py N
"""
import random
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000


class Point(object):
    def __init__(self, i):
        self.x = i
        self.tags = ["p%d" % i]


population = [Point(i) for i in range(N)]
sys.stdout.write("ready %d\n" % N)
sys.stdout.flush()
i = 0
rng = random.Random(7)
while True:
    i += 1
    population[rng.randrange(N)] = Point(i)
    scratch = [{"k": (j, "s%d" % j)} for j in range(50)]
    del scratch
