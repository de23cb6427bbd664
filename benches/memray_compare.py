#!/usr/bin/env python3
"""pyprobe's memory attribution against memray, an in-process tracer, on allocation-heavy
programs: the top 5 Python functions by pyprobe's RSS growth (page-fault attribution) and by
memray's bytes live at the high-water mark (the allocations that made the peak; allocations
freed before it are not RSS growth either).

    python3 benches/memray_compare.py [--python /root/.pyenv/versions/3.12.1/bin/python]

Installs memray from PyPI into target/memray-venv (of that Python). Functions are named by
their innermost Python frame: `function (file)`.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = ["benches/workloads/alloc_own.py", "benches/workloads/alloc_stdlib.py"]


def venv(python):
    path = os.path.join(ROOT, "target", "memray-venv")
    if not os.path.exists(os.path.join(path, "bin", "memray")):
        subprocess.check_call([python, "-m", "venv", path])
        subprocess.check_call([os.path.join(path, "bin", "pip"), "install", "-q", "memray"])
    return os.path.join(path, "bin", "python")


def pyprobe_top(python, script, tmp):
    out = os.path.join(tmp, "growth.txt")
    subprocess.run([os.path.join(ROOT, "target/release/pyprobe"), "record", "-r", "200",
                    "-w", "rss-growth", "-f", "raw", "--function", "-o", out, "--",
                    python, os.path.join(ROOT, script)], check=True, capture_output=True)
    totals = Counter()
    for line in open(out):
        stack, _, n = line.rstrip("\n").rpartition(" ")
        leaf = stack.split(";")[-1]
        name, _, where = leaf.partition(" (")
        totals["%s (%s)" % (name.split(".")[-1], os.path.basename(where.rstrip(")")))] += int(n)
    return totals


def memray_top(vpython, script, tmp):
    out = os.path.join(tmp, "memray.bin")
    if os.path.exists(out):
        os.remove(out)
    subprocess.run([vpython, "-m", "memray", "run", "-q", "-o", out,
                    os.path.join(ROOT, script)], check=True, capture_output=True)
    code = (
        "import memray, os, sys\n"
        "from collections import Counter\n"
        "c = Counter()\n"
        "for r in memray.FileReader(sys.argv[1]).get_high_watermark_allocation_records():\n"
        "    st = r.stack_trace()\n"
        "    if st:\n"
        "        f, path, _ = st[0]\n"
        "        c['%s (%s)' % (f.split('.')[-1], os.path.basename(path))] += r.size\n"
        "for k, v in c.most_common(12): print(v, k)\n")
    text = subprocess.run([vpython, "-c", code, out], check=True, capture_output=True,
                          text=True).stdout
    totals = Counter()
    for line in text.splitlines():
        n, _, name = line.partition(" ")
        totals[name] = int(n)
    return totals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="/root/.pyenv/versions/3.12.1/bin/python")
    a = ap.parse_args()
    vpython = venv(a.python)
    tmp = tempfile.mkdtemp()
    print("| workload | rank | pyprobe (RSS growth) | memray (live at peak) |")
    print("|---|---|---|---|")
    for script in WORKLOADS:
        ours = pyprobe_top(vpython, script, tmp)
        theirs = memray_top(vpython, script, tmp)
        a5 = [k for k, _ in ours.most_common(5)]
        b5 = [k for k, _ in theirs.most_common(5)]
        st, tt = sum(ours.values()) or 1, sum(theirs.values()) or 1
        for i in range(5):
            left = "%s %.0f%%" % (a5[i], 100.0 * ours[a5[i]] / st) if i < len(a5) else "-"
            right = "%s %.0f%%" % (b5[i], 100.0 * theirs[b5[i]] / tt) if i < len(b5) else "-"
            print("| %s | %d | %s | %s |" % (os.path.basename(script), i + 1, left, right))
        print("| %s | same set | %s | |" % (os.path.basename(script),
                                             "yes" if set(a5) == set(b5) else
                                             "no: %s" % sorted(set(a5) ^ set(b5))))
        sys.stdout.flush()


main()
