# One function only grows memory, another only burns CPU, in alternating phases.
#
# Arguments: TOTAL GROW_FROM GROW_UNTIL (seconds after "ready"; default 3 0 3).
# - burn_cpu(): about 150 ms of pure computation, allocating nothing that lasts; runs from the
#   start to TOTAL seconds, then the script exits.
# - grow_memory(): after each burn, while within [GROW_FROM, GROW_UNTIL): up to 6 steps of
#   "allocate and keep 2 MiB (written, so resident), sleep 50 ms". The sleeping thread is
#   idle, so it gets few CPU samples, but all the growth. No step starts after GROW_UNTIL:
#   a test that records over a window enclosing [GROW_FROM, GROW_UNTIL] sees all the growth
#   the OS reports between any two moments outside that range.
#
# Prints "ready" (then starts) so that a test can attach right away.
import sys
import time

CHUNK = 2 * 1024 * 1024
STEP = 0.05
kept = []


def grow_memory(steps):
    for _ in range(steps):
        kept.append(b"\x01" * CHUNK)  # LINE_GROW: bytes repeat writes every byte
        time.sleep(STEP)


def burn_cpu(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1  # LINE_BURN
    return x


def main():
    args = [float(a) for a in sys.argv[1:4]]
    total, grow_from, grow_until = args + [3.0, 0.0, 3.0][len(args):]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    start = time.time()
    while time.time() - start < total:
        burn_cpu(0.15)
        elapsed = time.time() - start
        if grow_from <= elapsed < grow_until:
            grow_memory(min(6, int((grow_until - elapsed) / STEP)))


main()
