# A thread that works without the GIL: "filler" fills a 256 MiB buffer with ctypes.memset (a
# foreign call, which releases the GIL) over and over, its Python stack standing still on one
# line; "waiter" blocks on an Event; MainThread sleeps. In a non-blocking recording only the
# filler is active. Python 2.7 compatible.
import ctypes
import sys
import threading
import time

SIZE = 256 << 20
never = threading.Event()


def fill_forever(started):
    buf = ctypes.create_string_buffer(SIZE)
    started.set()
    while True:
        ctypes.memset(buf, 1, SIZE)  # LINE_FILL


def wait_forever(started):
    started.set()
    never.wait()


def main_sleep():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


for name, target in (("filler", fill_forever), ("waiter", wait_forever)):
    started = threading.Event()
    t = threading.Thread(target=target, name=name, args=(started,))
    t.daemon = True
    t.start()
    started.wait()
main_sleep()
