# Thread names and states for `dump`: MainThread sleeps, "cpu-burner" burns CPU, "waiter" blocks
# forever on an Event that is never set. Python 2.7 compatible.
import sys
import threading
import time

never = threading.Event()


def burn(started):
    started.set()
    x = 0
    while True:
        x += 1  # LINE_BURN


def wait_forever(started):
    started.set()
    never.wait()  # LINE_WAIT


def main_sleep():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)  # LINE_SLEEP


for name, target in (("cpu-burner", burn), ("waiter", wait_forever)):
    started = threading.Event()
    t = threading.Thread(target=target, name=name, args=(started,))
    t.daemon = True
    t.start()
    started.wait()
main_sleep()  # LINE_MAIN
