# Nothing but page faults: touch every page of a fresh 64 MiB anonymous mapping, unmap, again.
# Writes "T <ns per page, best round> <s of a pure-CPU loop>" to stderr: the cost of a fault
# with and without pyprobe's page-fault events (benches/fault_overhead.py --workload touch).
import mmap, time, sys
N = 64 << 20
PAGE = 4096
def touch_all(rounds):
    best = 1e9
    for _ in range(rounds):
        m = mmap.mmap(-1, N, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        t = time.perf_counter()
        for i in range(0, N, PAGE):
            m[i] = 1
        dt = time.perf_counter() - t
        best = min(best, dt)
        m.close()
    return best
def spin(n):
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return time.perf_counter() - t
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
b = touch_all(rounds)
s = min(spin(2_000_000) for _ in range(3))
sys.stderr.write("T %.1f %.4f\n" % (b / (N // PAGE) * 1e9, s))
