#!/usr/bin/env python3
"""Whole-process comparison of pyprobe with py-spy and Austin on the same targets.

Installs py-spy 0.4.3 and austin-dist<4 from PyPI into a venv (target/bench-venv), builds
pyprobe in release mode, then measures, side by side in one run:
  - CPU per sample on a 100-frame-deep busy stack at 1 kHz, per interpreter
  - the CPU a bare C sleep loop spends per wake-up (the floor under any per-sample wake), and
    pyprobe's work per sample without it (asked for 100 kHz, it never sleeps)
  - the sustained rate each profiler reaches when asked for 10 kHz (profiler pinned to one core)
  - the target's slowdown at 100 Hz: one long-running work-loop target per profiler reports its
    throughput every 0.25 s while the profiler is attached and detached in ABBA rounds
    (--slowdown-rounds, --slowdown-window); paired per-round ratios, median with IQR and 95% CI,
    beside a no-profiler control that shows the noise floor
  - time to attach and take the first sample (`dump` wall time)
  - the profiler's peak RSS over a long 1 kHz recording (--long-seconds, default 60)
  - with --native (--only-native: this table alone): CPU per sample of `pyprobe record --native`
    (perf samples, no stop) and `py-spy record --native` (ptrace stops) at 200 Hz, on the
    100-frame stack and on a C-extension workload (zlib's deflate)

Usage: python3 benches/compare.py [--seconds 5] [--long-seconds 60] [--only pyprobe] [--no-build]
                                  [--memory-only | --only-cpu | --only-native |
                                   --only-slowdown [--slowdown-rounds 8] [--slowdown-window 2]]
Needs root (ptrace) and the interpreters of tests/interpreters.txt (the Debian builds are
installed by tools/install-debian-pythons, which setup() runs).
Prints one table per measure; timings belong here, not in tests.
"""
import argparse
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-venv")
PYPROBE = os.path.join(ROOT, "target", "release", "pyprobe")
SCRIPTS = os.path.join(ROOT, "benches", "targets")

sys.path.insert(0, os.path.join(ROOT, "benches"))
from interpreters import first_of  # noqa: E402

# The interpreters of the tables (X.Y, path), from tests/interpreters.txt. Looked up when
# main() runs, after setup() has installed the Debian builds.
NEW_VERSIONS = ["3.11", "3.12", "3.13", "3.14"]
OLD_VERSIONS = ["3.6", "3.9", "3.10"]


def setup(build=True):
    if not os.path.exists(os.path.join(VENV, "bin", "py-spy")):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([os.path.join(VENV, "bin", "pip"), "install", "-q",
                               "py-spy==0.4.3", "austin-dist<4"])
    if build:
        subprocess.check_call(["cargo", "build", "--release", "-q"], cwd=ROOT)
    subprocess.check_call(["bash", os.path.join(ROOT, "tools", "install-debian-pythons")],
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
    if tool.split()[0] == "pyprobe":
        extra = tool.split()[1:]
        return [PYPROBE, "record", "-p", str(pid), "-r", str(rate), "-d", str(seconds), "-f", "raw", "-o", out] + extra
    if tool == "py-spy":
        # py-spy's --duration counts samples at the requested rate, not wall seconds.
        return [os.path.join(VENV, "bin", "py-spy"), "record", "-p", str(pid), "-r", str(rate),
                "-d", str(seconds), "-f", "raw", "-o", out, "--nonblocking"]
    if tool == "py-spy --native":
        # --native cannot be --nonblocking in py-spy: it stops the target for each sample.
        return [os.path.join(VENV, "bin", "py-spy"), "record", "-p", str(pid), "-r", str(rate),
                "-d", str(seconds), "-f", "raw", "-o", out, "--native"]
    if tool == "austin":
        return [os.path.join(VENV, "bin", "austin"), "-i", "%dus" % (1000000 // rate), "-x", str(seconds),
                "-p", str(pid), "-o", out]
    raise ValueError(tool)


def samples_of(tool, out):
    if not os.path.exists(out):
        return 0
    return count_austin(out) if tool == "austin" else count_collapsed(out)


def one_run(tool, python, rate, seconds, cpu=None, script="deep_busy.py"):
    with Target(python, script) as t, tempfile.NamedTemporaryFile(suffix=".txt") as tmp:
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


def cpu_per_sample(tools, interpreters, seconds, script="deep_busy.py", repeats=3, rate=1000):
    """Median of `repeats` runs per cell, the tools interleaved: on a shared VM one run can land
    on a noisy moment (a 3.11 cell read 59 µs once where its neighbours read 34-36)."""
    rows = []
    for label, python in interpreters:
        row = [label]
        per = {}
        runs = {tool: [] for tool in tools}
        for _ in range(repeats):
            for tool in tools:
                r = one_run(tool, python, rate, seconds, script=script)
                us = 1e6 * r["cpu"] / r["samples"] if r["samples"] else float("nan")
                runs[tool].append((us, r))
        for tool in tools:
            us, r = sorted(runs[tool], key=lambda x: (x[0] != x[0], x[0]))[len(runs[tool]) // 2]
            per[tool] = us
            if not any(r["samples"] for _, r in runs[tool]):
                # e.g. Austin 3.7 on 3.14, a version it does not know: no figure, not "nan".
                row.append("— (no samples)")
                continue
            spread = "%.0f–%.0f" % (min(u for u, _ in runs[tool]), max(u for u, _ in runs[tool]))
            row.append("%.1f µs (%s; %d samples, %.0f Hz)" % (us, spread, r["samples"], r["samples"] / r["wall"]))
        pair = [t for t in tools if t.startswith("pyprobe")][:1] + [t for t in tools if t.startswith("py-spy")][:1]
        if len(pair) == 2 and all(t in per for t in pair):
            row.append("%.1f×" % (per[pair[1]] / per[pair[0]]))
        rows.append(row)
    paired = any(t.startswith("pyprobe") for t in tools) and any(t.startswith("py-spy") for t in tools)
    header = ["python"] + tools + (["py-spy / pyprobe"] if paired else [])
    return header, rows


def native_tables(interpreters, seconds):
    """`--native` on both: the 100-frame stack and a C-extension workload, 200 Hz (py-spy
    --native stops the target for each sample and cannot keep 1 kHz). pyprobe's perf samples
    cost the kernel some time in the target's context too (a stack copy per record), which
    this CPU of the profiler process does not include."""
    # Without page-fault events too: py-spy has no memory attribution, and the zlib workload
    # allocates a megabyte per call, whose faults wake pyprobe's sampler.
    tools = ["pyprobe --native", "pyprobe --native --no-fault-events", "py-spy --native"]
    table("CPU per sample with --native, 100-frame stack, 200 Hz",
          *cpu_per_sample(tools, interpreters, seconds, rate=200))
    table("CPU per sample with --native, zlib deflate (C extension), 200 Hz",
          *cpu_per_sample(tools, interpreters, seconds, script="native_busy.py", rate=200))


def work_per_sample(interpreters, seconds):
    """pyprobe asked for 100 kHz, more than it can take: it never sleeps, so CPU per sample is
    the work of a sample alone, without the sleep/wake floor."""
    rows = []
    for label, python in interpreters:
        r = one_run("pyprobe", python, 100000, seconds)
        rows.append([label, "%.1f µs" % (1e6 * r["cpu"] / max(r["samples"], 1)),
                     "%.0f Hz" % (r["samples"] / r["wall"])])
    return ["pyprobe asked for 100 kHz (never sleeps), 100-frame stack", "CPU per sample", "achieved"], rows


def sustained_rate(tools, python, seconds):
    """Each profiler asked for 10 kHz for `seconds` and for twice that: the rate is the extra
    samples over the extra wall time, so start-up and writing (the same in both runs) cancel
    and what remains is the steady state. (py-spy's --duration counts samples at the asked
    rate, so its runs last samples / achieved rate; the difference is still its rate.)"""
    rows = []
    for tool in tools:
        short = one_run(tool, python, 10000, seconds, cpu=1)
        long = one_run(tool, python, 10000, 2 * seconds, cpu=1)
        extra = long["samples"] - short["samples"]
        rate = extra / max(long["wall"] - short["wall"], 1e-9)
        rows.append([tool, "%.0f Hz" % rate, "%.0f Hz" % (long["samples"] / long["wall"]),
                     "%.1f µs" % (1e6 * long["cpu"] / max(long["samples"], 1))])
    return ["profiler (asked 10 kHz, 3.11, one core)", "steady-state rate", "samples / whole run",
            "CPU/sample"], rows


class TickTarget(object):
    """benches/targets/throughput.py, reporting its work-loop throughput once per `tick` seconds.

    Read with select() and os.read() so that a stalled target (stopped by a profiler, say) is
    reported instead of blocking forever."""

    def __init__(self, python, tick, limit):
        self.proc = subprocess.Popen([python, os.path.join(SCRIPTS, "throughput.py"), str(tick), str(limit)],
                                     stdout=subprocess.PIPE, bufsize=0)
        self.buf = b""
        try:
            line = self.line(30)
        except Exception:
            self.close()
            raise
        if not line.startswith("ready"):
            self.close()
            raise RuntimeError("%s throughput.py did not start: %r" % (python, line))

    def line(self, timeout):
        deadline = time.time() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise RuntimeError("no output from the target for %.0f s (process state %s)"
                                   % (timeout, proc_state(self.proc.pid)))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError("the target exited (status %s)" % self.proc.wait())
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def tick(self):
        """(iterations, window start, window end, CPU seconds) of the next window the target reports."""
        parts = self.line(10).split()
        return int(parts[2]), float(parts[3]), float(parts[4]), float(parts[5])

    def rate(self, windows, valid_from):
        """Iterations per second over the next `windows` windows that began at or after
        `valid_from` (earlier ones, which may overlap an attach or detach, are dropped), and the
        share of that time the target was on a CPU."""
        its = secs = cpu = 0.0
        got = 0
        while got < windows:
            n, start, end, used = self.tick()
            if start >= valid_from:
                its += n
                secs += end - start
                cpu += used
                got += 1
        return its / secs, cpu / secs

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def proc_state(pid):
    """The one-letter state of `pid` from /proc (R, S, T for stopped, …), or '?' once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (IOError, OSError, IndexError):
        return "?"


class Attached(object):
    """A profiler sampling `pid` at 100 Hz until stop(), which interrupts it as Ctrl-C would."""

    def __init__(self, tool, pid):
        self.tool, self.pid = tool, pid
        fd, self.out = tempfile.mkstemp(suffix=".txt")
        os.close(fd)
        self.err = tempfile.TemporaryFile()
        # A long duration: the profiler must outlive its window; stop() ends it.
        self.proc = subprocess.Popen(profile_cmd(tool, pid, 100, 3600, self.out),
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        self.started = time.time()

    def failure(self):
        """Why the profiler is no longer running, or None while it is."""
        if self.proc.poll() is None:
            return None
        self.err.seek(0)
        tail = self.err.read().decode(errors="replace").strip().splitlines()[-3:]
        return "%s exited early (status %s): %s" % (self.tool, self.proc.returncode, " / ".join(tail) or "no output")

    def stop(self):
        """Interrupt the profiler and wait for it; returns the samples per second it recorded."""
        elapsed = time.time() - self.started
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # A tracer that dies at the wrong moment can leave its tracee stopped.
        if proc_state(self.pid) == "T":
            os.kill(self.pid, signal.SIGCONT)
        n = samples_of(self.tool, self.out)
        self.close()
        return n / elapsed

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()
        if os.path.exists(self.out):
            os.unlink(self.out)


TICK = 0.25    # seconds per throughput window reported by the target
SETTLE = 0.5   # seconds after starting a profiler before windows count (attach, symbol loading)
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
       2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
       2.052, 2.048, 2.045, 2.042]  # two-sided 95% Student t quantiles, 1..30 degrees of freedom


def quantile(xs, q):
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def paired_slowdowns(tool, python, rounds, window):
    """One target process; `rounds` rounds of ABBA: `window` s without the profiler, 2×`window` s
    with it, `window` s without. Returns (per-round slowdowns, profiler samples/s, the target's
    lowest CPU share in an unprofiled window) or raises."""
    n = max(1, int(round(window / TICK)))
    limit = 600 + rounds * (4 * window + 3 * SETTLE + 5)
    target = TickTarget(python, TICK, limit)
    slow, hz, share = [], [], []
    try:
        target.rate(4, 0)  # warm-up: CPU frequency, caches
        for k in range(rounds):
            before, cpu_before = target.rate(n, 0)
            if tool is None:  # control: the same windows and discards, no profiler
                on, _ = target.rate(2 * n, time.time() + SETTLE)
            else:
                prof = Attached(tool, target.proc.pid)
                try:
                    on, _ = target.rate(2 * n, prof.started + SETTLE)
                    why = prof.failure()
                    if why:
                        raise RuntimeError(why)
                    hz.append(prof.stop())
                finally:
                    prof.close()
            after, cpu_after = target.rate(n, time.time())
            slow.append(1.0 - on / ((before + after) / 2.0))
            share += [cpu_before, cpu_after]
            sys.stderr.write("  slowdown %s round %d/%d: %+.2f%% (%.0f it/s unprofiled, target on CPU %.0f%%)\n"
                             % (tool or "none", k + 1, rounds, 100 * slow[-1], (before + after) / 2.0,
                                100 * min(cpu_before, cpu_after)))
            sys.stderr.flush()
    finally:
        target.close()
    return slow, (sorted(hz)[len(hz) // 2] if hz else None), min(share)


def slowdown(tools, python, rounds, window):
    """Target slowdown at 100 Hz, paired within one target process (see paired_slowdowns).

    Each round gives 1 − profiled rate / mean of the unprofiled rates around it, so that slow drift
    (frequency, other load) cancels; the table gives the median over rounds, the interquartile range
    and a 95% confidence interval of the mean. `none` repeats the procedure with no profiler: its
    spread is the noise floor. The target is single-threaded; nothing is pinned, so on a 2-core
    machine the profiler mostly runs on the other core. "target on CPU" is the lowest share of
    wall time the target spent running in an unprofiled window: well under 100% means other load
    competed for its core, and then the figures say more about the scheduler than the profiler."""
    rows = []
    contended = False
    for tool in [None] + list(tools):
        try:
            slow, hz, share = paired_slowdowns(tool, python, rounds, window)
        except Exception as e:
            rows.append([tool or "none (control)", "FAILED: %s" % e, "", "", "", "", "", ""])
            continue
        contended = contended or share < 0.95
        mean = sum(slow) / len(slow)
        if len(slow) > 1:
            sd = (sum((s - mean) ** 2 for s in slow) / (len(slow) - 1)) ** 0.5
            half = (T95[len(slow) - 2] if len(slow) - 1 <= len(T95) else 1.96) * sd / len(slow) ** 0.5
            ci = "%.2f%% ± %.2f%%" % (100 * mean, 100 * half)
            verdict = ("≤ 1%" if mean + half < 0.01 else "> 1%" if mean - half > 0.01 else "not resolved")
        else:
            ci, verdict = "%.2f%%" % (100 * mean), "not resolved"
        rows.append([tool or "none (control)", "%.2f%%" % (100 * quantile(slow, 0.5)),
                     "%.2f%% … %.2f%%" % (100 * quantile(slow, 0.25), 100 * quantile(slow, 0.75)),
                     ci, verdict, len(slow), "%.0f Hz" % hz if hz is not None else "—",
                     "%.0f%%" % (100 * share)])
    if contended:
        print("\n> warning: the target did not have a core to itself (load average %.2f); "
              "the slowdown figures below are not reliable" % os.getloadavg()[0])
    return ["profiler at 100 Hz (3.11, default mode)", "median slowdown", "IQR", "mean ± 95% CI",
            "vs 1%", "rounds", "samples/s", "target on CPU (lowest)"], rows


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


def sleep_floor():
    """A bare C loop that only sleeps and wakes, as the sampler does: the CPU each wake-up costs
    (the floor under every profiler's CPU per sample) and how often the machine wakes it later
    than one interval (the ceiling on any sustained rate)."""
    exe = os.path.join(ROOT, "target", "sleep_floor")
    subprocess.check_call(["gcc", "-O2", "-o", exe, os.path.join(ROOT, "benches", "sleep_floor.c")])
    rows = []
    for n, interval_us, cpu in ((5000, 1000, None), (50000, 100, 1)):
        cmd = ([] if cpu is None else ["taskset", "-c", str(cpu)]) + [exe, str(n), str(interval_us)]
        runs = sorted(tuple(float(x) for x in subprocess.check_output(cmd).decode().split())
                      for _ in range(3))
        cpu_us, late, worst = runs[1]
        rows.append(["%d Hz%s" % (1000000 // interval_us, "" if cpu is None else ", one core"),
                     "%.1f µs" % cpu_us, "%d of %d (%.2f%%)" % (late, n, 100.0 * late / n),
                     "%.0f µs" % worst])
    return ["bare C sleep loop (median of 3)", "CPU per wake-up", "wake-ups later than one interval",
            "worst lateness"], rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--long-seconds", type=int, default=60)
    ap.add_argument("--only", action="append", help="profilers to run (default: all three)")
    ap.add_argument("--memory-only", action="store_true", help="run only the profiler-memory table")
    ap.add_argument("--only-slowdown", action="store_true", help="run only the target-slowdown table")
    ap.add_argument("--slowdown-rounds", type=int, default=8,
                    help="ABBA rounds per profiler in the slowdown measure (default 8)")
    ap.add_argument("--slowdown-window", type=float, default=2.0,
                    help="seconds unprofiled on each side of a round; the profiled part is twice this (default 2)")
    ap.add_argument("--no-build", action="store_true", help="use the existing target/release/pyprobe")
    ap.add_argument("--only-native", action="store_true",
                    help="run only the --native CPU-per-sample tables")
    ap.add_argument("--only-cpu", action="store_true",
                    help="run only the CPU-per-sample, floor, work and sustained-rate tables")
    args = ap.parse_args()
    tools = args.only or ["pyprobe", "py-spy", "austin"]
    pause_modes = tools + (["pyprobe --blocking"] if "pyprobe" in tools else [])
    setup(build=not args.no_build)
    NEW = [first_of(v) for v in NEW_VERSIONS]
    OLD = [first_of(v) for v in OLD_VERSIONS]
    if args.memory_only:
        table("Profiler memory", *long_rss(tools, NEW[0][1], args.long_seconds))
        return
    if args.only_native:
        native_tables(NEW[:2], args.seconds)
        return
    if args.only_slowdown:
        table("Target slowdown", *slowdown(pause_modes, NEW[0][1], args.slowdown_rounds, args.slowdown_window))
        return
    print("# pyprobe vs py-spy 0.4.3 vs Austin 3.7 — %s, %d cores" % (time.strftime("%Y-%m-%d"), os.cpu_count()))
    table("CPU per sample, 100-frame stack, 1 kHz, 3.11–3.14", *cpu_per_sample(tools, NEW, args.seconds))
    table("CPU per sample, 100-frame stack, 1 kHz, 3.6–3.10", *cpu_per_sample(tools, OLD, args.seconds))
    table("CPU per sample, 60 different functions, 1 kHz", *cpu_per_sample(tools, NEW[:1], args.seconds,
                                                                            "distinct_busy.py"))
    table("Sleep/wake floor", *sleep_floor())
    if "pyprobe" in tools:
        table("Work per sample, no sleeping", *work_per_sample(NEW + OLD, args.seconds))
    table("Sustained rate", *sustained_rate(tools, NEW[0][1], args.seconds))
    if "pyprobe" in tools and "py-spy" in tools:
        native_tables(NEW[:2], args.seconds)
    if args.only_cpu:
        return
    table("Target slowdown", *slowdown(pause_modes, NEW[0][1], args.slowdown_rounds, args.slowdown_window))
    table("Attach", *attach_time(tools, NEW[0][1]))
    table("Profiler memory", *long_rss(tools, NEW[0][1], args.long_seconds))


if __name__ == "__main__":
    main()
