#!/usr/bin/env python3
"""Self share per function: the default (non-blocking) mode against --blocking, on call-heavy
standard-library workloads (tests/scripts/call_heavy.py), per interpreter.

    python3 benches/proportions.py [--seconds 5] [--rate 1000] [--workloads difflib,json,html]
                                   [--pythons 3.9,3.12] [--pyprobe target/release/pyprobe]

For each interpreter and workload: one target, recorded alternately in both modes (two halves
each, so drift of the workload cancels), then per mode the error rate and, over the top 10
functions by self share, the largest gap between the modes with its noise: sigma of a difference
of two shares p1, p2 from n1, n2 samples is sqrt(p1(1-p1)/n1 + p2(1-p2)/n2).
"""
import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from interpreters import interpreters  # noqa: E402

SUMMARY = re.compile(r"(\d+) samples, (\d+) errors")


def record(pyprobe, pid, mode, seconds, rate, out):
    args = [pyprobe, "record", "-p", str(pid), "-d", str(seconds), "-r", str(rate),
            "-f", "collapsed", "--function", "-o", out]
    if mode == "blocking":
        args.append("--blocking")
    err = subprocess.run(args, capture_output=True, text=True).stderr
    m = SUMMARY.search(err)
    if not m:
        raise RuntimeError("no summary from pyprobe: " + err)
    counts = Counter()
    with open(out) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            leaf = stack.rsplit(";", 1)[-1]
            counts[re.sub(r" \(.*\)$", "", leaf)] += int(n)
    return counts, int(m.group(1)), int(m.group(2)), err


def compare(nb, b):
    n1, n2 = sum(nb.values()) or 1, sum(b.values()) or 1
    top = [f for f, _ in (b + nb).most_common(10)]
    worst = (0.0, None, 0.0)
    for f in top:
        p1, p2 = nb[f] / n1, b[f] / n2
        gap = abs(p1 - p2) * 100
        sigma = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) * 100
        if gap >= worst[0]:
            worst = (gap, "%s %.1f%% vs %.1f%%" % (f, p1 * 100, p2 * 100), sigma)
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--workloads", default="difflib,json,html")
    ap.add_argument("--pythons", default="")
    ap.add_argument("--pyprobe", default=os.path.join(ROOT, "target/release/pyprobe"))
    a = ap.parse_args()
    wanted = [v for v in a.pythons.split(",") if v]
    print("| python | workload | errors default | errors blocking | worst gap (function, sigma) |")
    print("|---|---|---|---|---|")
    tmp = tempfile.mkdtemp()
    for label, path in interpreters():
        if wanted and not any(label.endswith(w) or w in label for w in wanted):
            continue
        for work in a.workloads.split(","):
            p = subprocess.Popen([path, os.path.join(ROOT, "tests/scripts/call_heavy.py"), work],
                                 stdout=subprocess.PIPE, text=True)
            try:
                assert p.stdout.readline().startswith("ready")
                total = {"default": [Counter(), 0, 0], "blocking": [Counter(), 0, 0]}
                for _ in range(2):
                    for mode in ("default", "blocking"):
                        c, s, e, _ = record(a.pyprobe, p.pid, mode, a.seconds / 2, a.rate,
                                            os.path.join(tmp, mode + ".txt"))
                        t = total[mode]
                        t[0] += c
                        t[1] += s
                        t[2] += e
            finally:
                p.kill()
                p.wait()
            gap, fn, sigma = compare(total["default"][0], total["blocking"][0])
            d, b = total["default"], total["blocking"]
            print("| %s | %s | %d/%d (%.2f%%) | %d/%d | %.1f pts (%s, σ %.2f) |" % (
                label, work, d[2], d[1] + d[2], 100.0 * d[2] / max(1, d[1] + d[2]),
                b[2], b[1] + b[2], gap, fn, sigma))
            sys.stdout.flush()


main()
