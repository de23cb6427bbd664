#!/usr/bin/env python3
"""Memory attribution without page-fault events (`--no-fault-events`, the fallback): the share
of RSS growth (or release) charged to grow() in the four patterns of
tests/scripts/grow_patterns.py, where only grow() grows memory (and lets it go).

    python3 benches/fallback_attribution.py [--pyprobe target/debug/pyprobe] [--seconds 3]
        [--pythons 3.9,3.12,3.15] [--weight rss-growth] [--runs 1] [--fault-events] [--keep N]
        [--blocking]

Per interpreter, pattern and run: a fresh target, recorded from its "ready" line for `--seconds`
(`-w WEIGHT`, collapsed), as the integration test does; then the share of the charged bytes in
stacks through grow() (the function, exact name), the share in the grower thread for the
"thread" pattern (stacks through grower()), and the bytes charged against the growth the
summary says the OS reported. The target keeps its last 40 blocks (RSS climbs for ~0.5 s, then
rises and falls), or `--keep N` (a large N: RSS only rises). Give two binaries (a build before a
change and after) as --pyprobe A,B to compare them, interleaved run by run.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from interpreters import first_of  # noqa: E402

SCRIPT = os.path.join(ROOT, "tests", "scripts", "grow_patterns.py")
PATTERNS = ["sleep", "return", "small", "thread"]
SIZE = re.compile(r"; grew ([0-9.]+) (B|KiB|MiB|GiB) in all")
SCALE = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def functions(stack):
    return [frame.split(" (", 1)[0] for frame in stack.split(";")]


def shares(path):
    """(share through grow(), share through grower(), bytes charged) of a collapsed file."""
    total = in_grow = in_grower = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            names = functions(stack)
            total += n
            in_grow += n if "grow" in names else 0
            in_grower += n if "grower" in names else 0
    return in_grow / max(total, 1), in_grower / max(total, 1), total


def record(pyprobe, pid, seconds, weight, fault_events, out, blocking=False):
    args = [pyprobe, "record", "-p", str(pid), "-d", str(seconds), "-w", weight, "-f", "raw",
            "-o", out] + (["--blocking"] if blocking else [])
    if not fault_events:
        args.append("--no-fault-events")
    done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    if done.returncode != 0:
        raise RuntimeError("%s: %s" % (args, done.stderr))
    m = SIZE.search(done.stderr)
    reported = float(m.group(1)) * SCALE[m.group(2)] if m else float("nan")
    return shares(out) + (reported, done.stderr)


def measure(pyprobe, python, pattern, a):
    env = dict(os.environ, GROW_PATTERNS_KEEP=str(a.keep))
    target = subprocess.Popen([python, SCRIPT, pattern], stdout=subprocess.PIPE,
                              universal_newlines=True, env=env)
    try:
        if target.stdout.readline().strip() != "ready":
            raise RuntimeError("%s %s did not start" % (python, pattern))
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.txt")
            return record(pyprobe, target.pid, a.seconds, a.weight, a.fault_events, out,
                          a.blocking)[:4]
    finally:
        target.kill()
        target.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprobe", default=os.path.join(ROOT, "target/debug/pyprobe"))
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--pythons", default="3.9,3.12,3.15")
    ap.add_argument("--patterns", default=",".join(PATTERNS))
    ap.add_argument("--weight", default="rss-growth")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--keep", type=int, default=40)
    ap.add_argument("--blocking", action="store_true", help="record with --blocking")
    ap.add_argument("--fault-events", action="store_true",
                    help="keep page-fault events on (the default mode), for comparison")
    a = ap.parse_args()
    binaries = a.pyprobe.split(",")
    print("| python | pattern | %s |" % " | ".join(
        "%s: in grow() (in grower thread) [charged/OS]" % os.path.basename(os.path.dirname(b))
        if len(binaries) > 1 else "in grow() (in grower thread) [charged/OS]"
        for b in binaries))
    print("|---|---|%s" % ("---|" * len(binaries)))
    for version in a.pythons.split(","):
        _, python = first_of(version)
        for pattern in a.patterns.split(","):
            cells = {b: [] for b in binaries}
            for run in range(a.runs):
                for b in binaries:
                    grow, grower, charged, reported = measure(b, python, pattern, a)
                    cell = "%.0f%%" % (100 * grow)
                    if pattern == "thread":
                        cell += " (%.0f%%)" % (100 * grower)
                    if a.weight == "rss-growth":
                        cell += " [%.2f]" % (charged / reported)
                    cells[b].append(cell)
            print("| %s | %s | %s |" % (version, pattern, " | ".join(
                ", ".join(cells[b]) for b in binaries)))
            sys.stdout.flush()


main()
