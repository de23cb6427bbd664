# A thread that `threading` learns of late. Started with the low-level _thread module (so it is
# not in threading._active), it burns CPU unnamed for NAMELESS seconds (default 1), then names
# itself: threading.current_thread() registers a _DummyThread for it, renamed "late-named". It
# burns on until killed. A profiler that reads names only when the thread set changes calls it
# "tid N" for ever.
#
# Prints "ready" once the thread runs.
import sys
import threading
import time

try:
    import _thread
except ImportError:  # Python 2
    import thread as _thread

started = threading.Event()


def spin(seconds):
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        x += 1
    return x


def burn_unnamed_then_named(nameless):
    started.set()
    spin(nameless)
    threading.current_thread().name = "late-named"
    while True:
        spin(1.0)


nameless = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
_thread.start_new_thread(burn_unnamed_then_named, (nameless,))
started.wait()
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(1)
