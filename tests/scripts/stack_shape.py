# A known stack for `dump`: main thread sleeps inside leaf() <- middle() <- <module>;
# a named worker thread burns CPU in spin(). Python 2.7 compatible.
import sys
import threading
import time


def spin():
    x = 0
    while True:
        x += 1  # LINE_SPIN


def leaf():
    while True:
        time.sleep(0.05)  # LINE_LEAF


def middle():
    leaf()  # LINE_MIDDLE


worker = threading.Thread(target=spin, name="busy-worker")
worker.daemon = True
worker.start()
sys.stdout.write("ready\n")
sys.stdout.flush()
middle()
