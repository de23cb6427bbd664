# For launch mode: prints a line, burns about 3 s of CPU in launched_work(), exits with 3.
# (A busy test machine may take more than a second to attach with a debug build, and launch
# mode has no ready line to wait for: the target cannot know when the profiler is attached.)
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
launched_work(3.0)  # LINE_CALL
sys.exit(3)
