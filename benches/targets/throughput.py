# Runs a fixed work loop for argv[1] seconds and prints its rate: "rate <iterations per second>".
# Used to measure how much a profiler slows its target.
import sys
import time


def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def main(seconds):
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    start = time.time()
    count = 0
    while time.time() - start < seconds:
        work(1000)
        count += 1
    sys.stdout.write("rate %f\n" % (count / (time.time() - start)))
    sys.stdout.flush()
    time.sleep(3600)


main(float(sys.argv[1]))
