# A known stack for `dump`: main thread sleeps inside leaf() <- middle() <- <module>;
# a named worker thread burns CPU in spin(). Python 2.7 compatible.
#
# "ready" is printed by the worker once it sees (sys._current_frames) the main thread at the
# sleep line of leaf(): a dump right after "ready" finds the stack below, not <module> on its way
# to middle().
import sys
import threading
import time

MAIN_THREAD = threading.current_thread().ident


def wait_until_main_sleeps():
    sleep_line = leaf.__code__.co_firstlineno + 2  # the time.sleep line
    while True:
        frame = sys._current_frames().get(MAIN_THREAD)
        if frame is not None and frame.f_code is leaf.__code__ and frame.f_lineno == sleep_line:
            break
        time.sleep(0.001)
    sys.stdout.write("ready\n")
    sys.stdout.flush()


def spin():
    wait_until_main_sleeps()
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
middle()
