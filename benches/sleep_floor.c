/* What sleeping and waking alone costs on this machine: the floor under any sampler that wakes
 * once per sample. N absolute sleeps of INTERVAL µs on CLOCK_MONOTONIC (as pyprobe's sampler
 * sleeps, with 1 ns timer slack), then prints:
 *   <CPU µs per wake-up> <wake-ups later than one interval> <worst lateness µs>
 * CPU from /proc/thread-self/schedstat (the scheduler's run-time count, which getrusage reports).
 * Built and run by benches/compare.py. Usage: sleep_floor [N] [INTERVAL_US] */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
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

static long long to_ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    long interval = (argc > 2 ? atol(argv[2]) : 1000) * 1000;
    prctl(PR_SET_TIMERSLACK, 1UL);
    struct timespec t, now;
    long long before = run_ns(), worst = 0;
    int late = 0;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (int i = 0; i < n; i++) {
        t.tv_nsec += interval;
        while (t.tv_nsec >= 1000000000) {
            t.tv_nsec -= 1000000000;
            t.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long behind = to_ns(now) - to_ns(t);
        if (behind > worst) worst = behind;
        if (behind > interval) late++;
    }
    printf("%.2f %d %.1f\n", (run_ns() - before) / 1000.0 / n, late, worst / 1000.0);
    return 0;
}
