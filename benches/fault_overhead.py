#!/usr/bin/env python3
"""What page-fault attribution costs the target. A workload runs alone, under `pyprobe record`
with page-fault events (default period) and under `--no-fault-events`, interleaved, N times
each. The program times itself (its own wall clock around its work, so neither the
interpreter's start nor pyprobe's attach counts), and the table gives, per mode, the median of
the per-round ratios against the run alone of the same round (paired: the host's drift cancels)
and the ratio of the fastest runs, with the spread so the noise shows.

Workloads:
  alloc  benches/workloads/alloc_own.py: builds and keeps records, blobs, lines, tables (time).
  touch  benches/workloads/touch_pages.py: nothing but page faults; reports ns per fresh page
         touched (best of its rounds), the cost per fault at its worst.

    python3 benches/fault_overhead.py [--runs 9] [--workload alloc|touch] [--python PATH]
"""
import argparse
import os
import resource
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROBE = os.path.join(ROOT, "target/release/pyprobe")
WORKLOADS = {
    "alloc": os.path.join(ROOT, "benches/workloads/alloc_own.py"),
    "touch": os.path.join(ROOT, "benches/workloads/touch_pages.py"),
}
# Runs the workload as __main__ and writes "T <seconds>" (or the touch workload's own line).
TIMED = (
    "import runpy, sys, time; sys.argv = [{path!r}]; t = time.perf_counter(); "
    "runpy.run_path({path!r}, run_name='__main__'); "
    "sys.stderr.write('T %f\\n' % (time.perf_counter() - t))"
)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(mode, python, workload):
    path = WORKLOADS[workload]
    cmd = [python, path] if workload == "touch" else [python, "-c", TIMED.format(path=path)]
    if mode != "alone":
        extra = ["--no-fault-events"] if mode == "interval" else []
        out = "/tmp/pyprobe-fault-overhead.txt"
        cmd = [PYPROBE, "record", "-f", "raw", "-o", out] + extra + ["--"] + cmd
    cpu0 = children_cpu()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    line = [l for l in done.stderr.splitlines() if l.startswith("T ")][-1]
    return float(line.split()[1]), children_cpu() - cpu0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="alloc")
    ap.add_argument("--python", default="/root/.pyenv/versions/3.12.1/bin/python")
    a = ap.parse_args()
    modes = ["alone", "faults", "interval"]
    took = {m: [] for m in modes}
    cpu = {m: [] for m in modes}
    for _ in range(a.runs):
        for m in modes:
            t, c = run(m, a.python, a.workload)
            took[m].append(t)
            cpu[m].append(c)
    unit = "ns per page" if a.workload == "touch" else "s"
    base_cpu = statistics.median(cpu["alone"])
    print("workload %s, %d rounds, %s" % (a.workload, a.runs, a.python))
    print("| mode | program's %s: median (min-max) | paired ratio: median (min-max) "
          "| fastest vs fastest | pyprobe CPU s (median) |" % unit)
    print("|---|---|---|---|---|")
    for m in modes:
        ratios = [100 * (x / y - 1) for x, y in zip(took[m], took["alone"])]
        print("| %s | %.3f (%.3f-%.3f) | %+.1f%% (%+.1f%% to %+.1f%%) | %+.1f%% | %.3f |" % (
            m, statistics.median(took[m]), min(took[m]), max(took[m]),
            statistics.median(ratios), min(ratios), max(ratios),
            100 * (min(took[m]) / min(took["alone"]) - 1),
            statistics.median(cpu[m]) - base_cpu))


main()
