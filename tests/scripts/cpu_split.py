# The main thread alternates between cpu_a() (about 3/4 of the work) and cpu_b() (about 1/4),
# fixed work loops, no sleeping. The split is measured at startup and printed on the ready line:
# "ready 0.751" is cpu_a's share of the CPU time of one round (the median of 9 rounds).
#
# While it runs, the script also keeps the wall time spent in each function. On SIGUSR1 it prints
# "totals A B" (seconds in cpu_a and cpu_b so far, including the call in progress): the
# difference of two such lines is the exact split of a recording window. That is what a sampler
# estimates even on a busy machine, where the target is preempted for stretches (a preempted
# thread stays runnable, in its function, and is sampled there).
#
# With the argument "thread", a second thread named "cpu-burner" burns CPU in burn() (and the
# ready line is just "ready").
# Python 2.7 compatible.
import signal
import sys
import threading
import time

try:
    range = xrange  # Python 2: no list of N ints
except NameError:
    pass

try:
    cpu_time = time.process_time
except AttributeError:
    cpu_time = time.clock  # Python 2: CPU time of the process on Unix

N = 100000  # iterations of cpu_b per round; cpu_a does 3 * N


def cpu_a(n):
    x = 0
    for i in range(n):
        x += i * i  # LINE_A
    return x


def cpu_b(n):
    x = 0
    for i in range(n):
        x += i * i  # LINE_B
    return x


def burn():
    x = 0
    while True:
        x += 1  # LINE_BURN


def measure(rounds):
    """The median over `rounds` of cpu_a's share of one round's CPU time: a hiccup in one
    round (an interrupt, a busy sibling hyperthread) does not move it."""
    shares = []
    for _ in range(rounds):
        t0 = cpu_time()
        cpu_a(3 * N)
        t1 = cpu_time()
        cpu_b(N)
        t2 = cpu_time()
        shares.append((t1 - t0) / ((t2 - t0) or 1e-9))
    shares.sort()
    return shares[len(shares) // 2]


# (seconds in cpu_a, seconds in cpu_b, function running or None, since when): replaced whole,
# in one assignment, so that the SIGUSR1 handler never sees half an update.
state = [(0.0, 0.0, None, 0.0)]


def report(signum, frame):
    now = time.time()
    ta, tb, running, since = state[0]
    if running == "a":
        ta += now - since
    elif running == "b":
        tb += now - since
    sys.stdout.write("totals %.6f %.6f\n" % (ta, tb))
    sys.stdout.flush()


def main():
    signal.signal(signal.SIGUSR1, report)
    if "thread" in sys.argv[1:]:
        # Sharing the GIL with the burner, the split means nothing: no calibration.
        t = threading.Thread(target=burn, name="cpu-burner")
        t.daemon = True
        t.start()
        sys.stdout.write("ready\n")
    else:
        measure(1)  # warm up
        sys.stdout.write("ready %.3f\n" % measure(9))
    sys.stdout.flush()
    ta = tb = 0.0
    now = time.time()
    while True:
        state[0] = (ta, tb, "a", now)
        cpu_a(3 * N)  # LINE_CALL_A
        t = time.time()
        ta += t - now
        now = t
        state[0] = (ta, tb, "b", now)
        cpu_b(N)  # LINE_CALL_B
        t = time.time()
        tb += t - now
        now = t


main()  # LINE_MAIN
