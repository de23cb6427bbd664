# For launch mode: prints a line, burns about 1.5 s of CPU in launched_work(), exits with 3.
# (A busy test machine may take a good part of a second to attach with a debug build.)
# Python 2.7 compatible.
import sys
import time


def launched_work(seconds):  # LINE_DEF
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        for i in range(1000):
            x += i  # LINE_WORK
    return x  # LINE_RETURN


sys.stdout.write("hello from launch_exit.py\n")
sys.stdout.flush()
launched_work(1.5)  # LINE_CALL
sys.exit(3)
