# Two functions that do one thing each, alternating on the main thread:
# - grow() only grows memory: it waits a little, appends a 2 MiB chunk of touched bytes to a list
#   that is never freed, and waits again (about 50 ms a phase). The waits on both sides of the
#   allocation mean the RSS readings around it see grow() running, so the growth is charged to it.
# - burn() only burns CPU (about 150 ms a phase) and allocates nothing that lasts.
# The work loop runs at module level, so every stack is <module> then grow or burn.
# Prints "ready" once the loop is about to start; exits by itself after 60 s (a safety net).
# Python 3 only.
import time

CHUNK = 2 * 1024 * 1024
kept = []


def grow():
    time.sleep(0.02)  # LINE_GROW_WAIT
    kept.append(b"\x01" * CHUNK)  # LINE_GROW_ALLOC
    time.sleep(0.03)


def burn(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        for i in range(2000):
            x += i * i  # LINE_BURN
    return x


print("ready", flush=True)
started = time.monotonic()
while time.monotonic() - started < 60:
    burn(0.15)
    grow()
