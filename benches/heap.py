#!/usr/bin/env python3
"""`pyprobe heap` on a big heap of small objects: seconds per GiB of Python heap and pyprobe's
own peak RSS.

Starts a target that fills about --gib GiB with small objects (for each i: a tuple holding a
str and a float, kept in one list: four pymalloc blocks, ~170 bytes, per item), then runs
`pyprobe heap --pid P --json` under /usr/bin/time -v, --runs times, and prints the census's
small-object heap size, the wall time per GiB and pyprobe's maximum RSS.

Usage: python3 benches/heap.py [--python PATH] [--gib 1.0] [--runs 3] [--blocking] [--no-build]
Needs root (process_vm_readv on another user's process, ptrace for --blocking).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROBE = os.path.join(ROOT, "target", "release", "pyprobe")
TARGET = r'''
import sys, time
n = int(sys.argv[1])
items = [("s%010d" % i, float(i)) for i in range(n)]
sys.stdout.write("ready\n"); sys.stdout.flush()
while True:
    time.sleep(1)
'''
BYTES_PER_ITEM = 170


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default="/root/.pyenv/versions/3.12.1/bin/python")
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--blocking", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.check_call(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    n = int(args.gib * (1 << 30) / BYTES_PER_ITEM)
    started = time.time()
    target = subprocess.Popen([args.python, "-c", TARGET, str(n)], stdout=subprocess.PIPE,
                              universal_newlines=True)
    try:
        line = target.stdout.readline()
        if not line.startswith("ready"):
            sys.exit("the target did not start: %r" % line)
        print("target: %s, %d items, built in %.1f s" % (args.python, n, time.time() - started))
        cmd = ["/usr/bin/time", "-v", PYPROBE, "heap", "--pid", str(target.pid), "--json"]
        if args.blocking:
            cmd.append("--blocking")
        for run in range(args.runs):
            res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True)
            if res.returncode != 0:
                sys.exit("pyprobe failed: %s" % res.stderr)
            doc = json.loads(res.stdout)
            t = doc["totals"]
            wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", res.stderr)
            wall_s = float(wall.group(3)) + 60 * float(wall.group(2)) + 3600 * float(wall.group(1) or 0)
            maxrss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1))
            heap_gib = (t["arena_bytes"] + t["large_object_bytes"]) / float(1 << 30)
            print("run %d: heap %.2f GiB (%d arenas, %s objects), census %.2f s, pyprobe wall %.2f s "
                  "= %.2f s/GiB, pyprobe max RSS %.1f MiB%s"
                  % (run + 1, heap_gib, t["arenas"], "{:,}".format(t["objects"]), t["scan_seconds"],
                     wall_s, wall_s / heap_gib, maxrss / 1024.0,
                     ", paused %.2f s" % t["paused_seconds"] if t.get("paused_seconds") else ""))
        top = ", ".join("%s %s" % (r["type"], "{:,}".format(r["count"])) for r in doc["types"][:4])
        print("largest types: %s" % top)
    finally:
        target.kill()
        target.wait()


if __name__ == "__main__":
    main()
