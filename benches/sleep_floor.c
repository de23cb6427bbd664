/* The CPU cost of sleeping and waking alone, the floor under any sampler that wakes once per
 * sample: N absolute 1 ms sleeps on CLOCK_MONOTONIC (as pyprobe's sampler sleeps), then this
 * thread's CPU time from /proc/self/schedstat (the scheduler's own run-time count, the one
 * getrusage reports). Built and run by benches/compare.py. Usage: sleep_floor [N] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long run_ns(void) {
    long long ns = 0;
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (f) {
        if (fscanf(f, "%lld", &ns) != 1) ns = 0;
        fclose(f);
    }
    return ns;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    struct timespec t;
    long long before = run_ns();
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (int i = 0; i < n; i++) {
        t.tv_nsec += 1000000;
        if (t.tv_nsec >= 1000000000) {
            t.tv_nsec -= 1000000000;
            t.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
    }
    printf("%.2f\n", (run_ns() - before) / 1000.0 / n);
    return 0;
}
