#!/usr/bin/env python3
"""What page-fault attribution costs the target: an allocation-heavy program
(benches/workloads/alloc_own.py) run alone, under `pyprobe record` with page-fault events
(default period) and with --no-fault-events, interleaved, N times each. Prints the program's
wall time per mode (median and range) and pyprobe's CPU time (from its own rusage, minus the
program's: measured as children of this script).

    python3 benches/fault_overhead.py [--runs 5] [--python /root/.pyenv/versions/3.12.1/bin/python]
"""
import argparse
import os
import resource
import subprocess
import statistics
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROBE = os.path.join(ROOT, "target/release/pyprobe")
WORK = os.path.join(ROOT, "benches/workloads/alloc_own.py")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(mode, python):
    cmd = [python, WORK]
    if mode != "alone":
        extra = ["--no-fault-events"] if mode == "interval" else []
        cmd = [PYPROBE, "record", "-f", "raw", "-o", "/tmp/fault_overhead.txt"] + extra + ["--"] + cmd
    cpu0, t0 = children_cpu(), time.time()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.time() - t0, children_cpu() - cpu0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", default="/root/.pyenv/versions/3.12.1/bin/python")
    a = ap.parse_args()
    modes = ["alone", "faults", "interval"]
    wall = {m: [] for m in modes}
    cpu = {m: [] for m in modes}
    for _ in range(a.runs):
        for m in modes:
            w, c = run(m, a.python)
            wall[m].append(w)
            cpu[m].append(c)
    base = statistics.median(wall["alone"])
    base_cpu = statistics.median(cpu["alone"])
    print("| mode | wall s (median, min-max) | vs alone | CPU s of pyprobe (median) |")
    print("|---|---|---|---|")
    for m in modes:
        med = statistics.median(wall[m])
        print("| %s | %.3f (%.3f-%.3f) | %+.1f%% | %.3f |" % (
            m, med, min(wall[m]), max(wall[m]), 100 * (med / base - 1),
            statistics.median(cpu[m]) - base_cpu))


main()
