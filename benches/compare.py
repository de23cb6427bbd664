#!/usr/bin/env python3
"""Whole-process comparison of pyprobe with py-spy and Austin on the same targets.

Installs py-spy 0.4.3 and austin-dist<4 from PyPI into a venv (target/bench-venv), builds
pyprobe in release mode, then measures, side by side in one run:
  - CPU per sample on a 100-frame-deep busy stack at 1 kHz, per interpreter
  - the sustained rate each profiler reaches when asked for 10 kHz (profiler pinned to one core)
  - the target's slowdown at 100 Hz (work-loop throughput with and without the profiler)
  - time to attach and take the first sample (`dump` wall time)
  - the profiler's peak RSS over a long 1 kHz recording (--long-seconds, default 60)

Usage: python3 benches/compare.py [--seconds 5] [--long-seconds 60] [--only pyprobe]
Needs root (ptrace) and the interpreters under /root/.pyenv and /opt/debian-pythons.
Prints one table per measure; timings belong here, not in tests.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-venv")
PYPROBE = os.path.join(ROOT, "target", "release", "pyprobe")
SCRIPTS = os.path.join(ROOT, "benches", "targets")

NEW = [("3.11", "/root/.pyenv/versions/3.11.7/bin/python"),
       ("3.12", "/root/.pyenv/versions/3.12.1/bin/python"),
       ("3.13", "/root/.pyenv/versions/3.13.0/bin/python"),
       ("3.14", "/opt/debian-pythons/root/usr/bin/python3.14")]
OLD = [("3.6", "/root/.pyenv/versions/3.6.15/bin/python"),
       ("3.9", "/root/.pyenv/versions/3.9.18/bin/python"),
       ("3.10", "/root/.pyenv/versions/3.10.13/bin/python")]


def setup():
    if not os.path.exists(os.path.join(VENV, "bin", "py-spy")):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([os.path.join(VENV, "bin", "pip"), "install", "-q",
                               "py-spy==0.4.3", "austin-dist<4"])
    subprocess.check_call(["cargo", "build", "--release", "-q"], cwd=ROOT)
    subprocess.check_call(["bash", os.path.join(ROOT, "..", "shared", "tools", "install-debian-pythons")],
                          stdout=subprocess.DEVNULL)


class Target(object):
    """A Python target that prints 'ready' (and later lines) on stdout; killed on exit."""

    def __init__(self, python, script, *args):
        self.proc = subprocess.Popen([python, os.path.join(SCRIPTS, script)] + list(args),
                                     stdout=subprocess.PIPE, universal_newlines=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("%s %s did not start: %r" % (python, script, line))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def run_measured(cmd, cpu=None):
    """Run cmd; return (wall seconds, user+sys CPU seconds, peak RSS KiB, stdout+stderr)."""
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    wall = time.time() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, out


def count_collapsed(path):
    """Samples in a collapsed-stack file (py-spy raw, pyprobe collapsed): the sum of counts."""
    total = 0
    with open(path) as f:
        for line in f:
            m = re.search(r" (\d+)$", line.strip())
            if m:
                total += int(m.group(1))
    return total


def count_austin(path):
    """Samples in Austin's text output: one line per thread sample (P…;T…;frames metric)."""
    with open(path) as f:
        return sum(1 for line in f if line.startswith("P"))


def profile_cmd(tool, pid, rate, seconds, out):
    if tool in ("pyprobe", "pyprobe --blocking"):
        extra = ["--blocking"] if tool.endswith("--blocking") else []
        return [PYPROBE, "record", "-p", str(pid), "-r", str(rate), "-d", str(seconds), "-f", "raw", "-o", out] + extra
    if tool == "py-spy":
        # py-spy's --duration counts samples at the requested rate, not wall seconds.
        return [os.path.join(VENV, "bin", "py-spy"), "record", "-p", str(pid), "-r", str(rate),
                "-d", str(seconds), "-f", "raw", "-o", out, "--nonblocking"]
    if tool == "austin":
        return [os.path.join(VENV, "bin", "austin"), "-i", "%dus" % (1000000 // rate), "-x", str(seconds),
                "-p", str(pid), "-o", out]
    raise ValueError(tool)


def samples_of(tool, out):
    if not os.path.exists(out):
        return 0
    return count_austin(out) if tool == "austin" else count_collapsed(out)


def one_run(tool, python, rate, seconds, cpu=None):
    with Target(python, "deep_busy.py") as t, tempfile.NamedTemporaryFile(suffix=".txt") as tmp:
        wall, cpu_s, rss, log = run_measured(profile_cmd(tool, t.proc.pid, rate, seconds, tmp.name), cpu)
        n = samples_of(tool, tmp.name)
        return {"wall": wall, "cpu": cpu_s, "samples": n, "rss_kib": rss, "log": log}


def table(title, header, rows):
    print("\n## " + title)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    sys.stdout.flush()


def cpu_per_sample(tools, interpreters, seconds):
    rows = []
    for label, python in interpreters:
        row = [label]
        per = {}
        for tool in tools:
            r = one_run(tool, python, 1000, seconds)
            us = 1e6 * r["cpu"] / r["samples"] if r["samples"] else float("nan")
            per[tool] = us
            row.append("%.1f µs (%d samples, %.0f Hz)" % (us, r["samples"], r["samples"] / r["wall"]))
        if "pyprobe" in per and "py-spy" in per:
            row.append("%.0f×" % (per["py-spy"] / per["pyprobe"]))
        rows.append(row)
    header = ["python"] + tools + (["py-spy / pyprobe"] if "pyprobe" in tools and "py-spy" in tools else [])
    return header, rows


def sustained_rate(tools, python, seconds):
    rows = []
    for tool in tools:
        r = one_run(tool, python, 10000, seconds, cpu=1)
        rows.append([tool, "%.0f Hz" % (r["samples"] / r["wall"]), "%.1f µs" % (1e6 * r["cpu"] / max(r["samples"], 1))])
    return ["profiler (asked 10 kHz, 3.11, one core)", "achieved", "CPU/sample"], rows


def throughput(python, seconds, tool=None):
    """Work-loop iterations per second of the target, with `tool` sampling at 100 Hz."""
    with Target(python, "throughput.py", str(seconds + 1)) as t, tempfile.NamedTemporaryFile(suffix=".txt") as tmp:
        prof = None
        if tool:
            prof = subprocess.Popen(profile_cmd(tool, t.proc.pid, 100, seconds + 2, tmp.name),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        line = t.proc.stdout.readline()  # "rate N" after the timed loop
        if prof:
            prof.kill()
            prof.wait()
        return float(line.split()[1])


def slowdown(tools, python, seconds):
    base = [throughput(python, seconds) for _ in range(3)]
    baseline = sorted(base)[1]
    rows = [["none", "%.0f it/s" % baseline, "—"]]
    for tool in tools:
        vals = [throughput(python, seconds, tool) for _ in range(3)]
        v = sorted(vals)[1]
        rows.append([tool, "%.0f it/s" % v, "%.2f%%" % (100.0 * (baseline - v) / baseline)])
    return ["profiler at 100 Hz (3.11, default mode)", "target throughput (median of 3)", "slowdown"], rows


def attach_time(tools, python):
    rows = []
    with Target(python, "deep_busy.py") as t:
        for tool in tools:
            if tool == "austin":
                cmd = [os.path.join(VENV, "bin", "austin"), "-w", str(t.proc.pid)]
            elif tool == "py-spy":
                cmd = [os.path.join(VENV, "bin", "py-spy"), "dump", "-p", str(t.proc.pid), "--nonblocking"]
            else:
                cmd = [PYPROBE, "dump", "-p", str(t.proc.pid), "--nonblocking"]
            walls = sorted(run_measured(cmd)[0] for _ in range(5))
            rows.append([tool, "%.1f ms" % (1e3 * walls[2])])
    return ["attach + first sample (dump, 3.11, median of 5)", "wall"], rows


def vm_rss_kib(pid):
    """Current resident set of `pid` in KiB (0 once it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (IOError, OSError):
        pass
    return 0


def long_rss(tools, python, seconds):
    """The profiler's own RSS over a long run, polled from /proc (ru_maxrss would include the
    forked copy of this script that exec'd the profiler)."""
    rows = []
    for tool in tools:
        with Target(python, "deep_busy.py") as t, tempfile.NamedTemporaryFile(suffix=".txt") as tmp:
            prof = subprocess.Popen(profile_cmd(tool, t.proc.pid, 1000, seconds, tmp.name),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            peak = last = 0
            while prof.poll() is None:
                rss = vm_rss_kib(prof.pid)
                if rss:
                    last = rss
                    peak = max(peak, rss)
                time.sleep(0.5)
            rows.append([tool, "%d s at 1 kHz" % seconds, "%.1f MB" % (last / 1024.0),
                         "%.1f MB" % (peak / 1024.0), samples_of(tool, tmp.name)])
    return ["profiler", "run", "RSS at the end", "highest RSS seen", "samples"], rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--long-seconds", type=int, default=60)
    ap.add_argument("--only", action="append", help="profilers to run (default: all three)")
    ap.add_argument("--memory-only", action="store_true", help="run only the profiler-memory table")
    args = ap.parse_args()
    tools = args.only or ["pyprobe", "py-spy", "austin"]
    setup()
    if args.memory_only:
        table("Profiler memory", *long_rss(tools, NEW[0][1], args.long_seconds))
        return
    print("# pyprobe vs py-spy 0.4.3 vs Austin 3.7 — %s, %d cores" % (time.strftime("%Y-%m-%d"), os.cpu_count()))
    table("CPU per sample, 100-frame stack, 1 kHz, 3.11–3.14", *cpu_per_sample(tools, NEW, args.seconds))
    table("CPU per sample, 100-frame stack, 1 kHz, 3.6–3.10", *cpu_per_sample(tools, OLD, args.seconds))
    table("Sustained rate", *sustained_rate(tools, NEW[0][1], args.seconds))
    pause_modes = tools + (["pyprobe --blocking"] if "pyprobe" in tools else [])
    table("Target slowdown", *slowdown(pause_modes, NEW[0][1], args.seconds))
    table("Attach", *attach_time(tools, NEW[0][1]))
    table("Profiler memory", *long_rss(tools, NEW[0][1], args.long_seconds))


if __name__ == "__main__":
    main()
