# Threads created and destroyed constantly: the main thread starts short-lived threads in a loop
# (a few alive at any moment), each doing a little work in churn_work() and exiting.
# Prints "ready", then on SIGUSR1 "threads N" (how many were started so far).
# Python 2.7 compatible.
import signal
import sys
import threading

started = [0]


def churn_work():
    x = 0
    for i in range(2000):
        x += i  # LINE_WORK
    return x


def report(signum, frame):
    sys.stdout.write("threads %d\n" % started[0])
    sys.stdout.flush()


def churn():
    while True:
        batch = [threading.Thread(target=churn_work) for _ in range(4)]
        for t in batch:
            t.start()
            started[0] += 1
        for t in batch:
            t.join()


signal.signal(signal.SIGUSR1, report)
sys.stdout.write("ready\n")
sys.stdout.flush()
churn()  # LINE_CHURN
