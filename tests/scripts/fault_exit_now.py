# Exits right after saying ready, or after burning CPU for the seconds given as argument:
# pyprobe attaching to it races with its exit at different points of the attach.
# Python 2.7 compatible.
import sys
import time

sys.stdout.write("ready\n")
sys.stdout.flush()
if len(sys.argv) > 1:
    end = time.time() + float(sys.argv[1])
    x = 0
    while time.time() < end:
        x += 1  # LINE_LINGER
