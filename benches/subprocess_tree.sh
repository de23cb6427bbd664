#!/bin/bash
# pyprobe's CPU per process-sample with --subprocesses: a tree of N Python processes (the
# root and N-1 forked children, each asleep 10 frames deep, so every walk is alike) recorded
# at RATE Hz (--idle, so every process's stack is read and counted), against one process
# without --subprocesses (N=plain). The cost per tick is the difference between a recording of
# 3*SECS and one of SECS s (pyprobe's user+system CPU, GNU time), so the start (reading the
# interpreter's binary) drops out. Prints one line per N.
# Usage: benches/subprocess_tree.sh [PYTHON] [PYPROBE] [RATE] [SECS] [N...]   (N: plain or a count)
set -euo pipefail
PY=${1:-/root/.pyenv/versions/3.12.1/bin/python}
PYPROBE=${2:-target/debug/pyprobe}
RATE=${3:-100}
SECS=${4:-5}
shift $(( $# < 4 ? $# : 4 ))
SIZES=${*:-plain 1 8 32}
TREE=$(mktemp --suffix=.py)
OUT=$(mktemp -d)
trap 'rm -rf "$TREE" "$OUT"' EXIT
cat > "$TREE" <<'PY'
import os, sys, time
def nest(d):
    if d == 0:
        while True:
            time.sleep(0.005)
    return nest(d - 1)
n = int(sys.argv[1])
for _ in range(n - 1):
    if os.fork() == 0:
        nest(10)
print("ready", flush=True)
nest(10)
PY

# record N SECONDS: prints "cpu_seconds ticks"
record() {
    local n=$1 secs=$2 count=$1 tree=--subprocesses
    if [ "$n" = plain ]; then count=1; tree=; fi
    # Its own process group, ended by its id below.
    coproc TREEPROC { exec setsid "$PY" "$TREE" "$count"; }
    local root=$TREEPROC_PID
    read -r _ <&"${TREEPROC[0]}"
    sleep 0.5
    /usr/bin/time -f "%U %S" -o "$OUT/time" "$PYPROBE" record $tree --idle -p "$root" \
        -r "$RATE" -d "$secs" -f raw -o "$OUT/out.txt" 2> "$OUT/err"
    kill -KILL -- "-$root" || true
    wait "$root" 2>/dev/null || true
    local user sys ticks
    read -r user sys < "$OUT/time"
    ticks=$(grep -o '^pyprobe: [0-9]* samples' "$OUT/err" | grep -o '[0-9]*')
    echo "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') $ticks"
}

for n in $SIZES; do
    read -r cpu1 ticks1 < <(record "$n" "$SECS")
    read -r cpu3 ticks3 < <(record "$n" $((SECS * 3)))
    awk -v n="$n" -v c1="$cpu1" -v t1="$ticks1" -v c3="$cpu3" -v t3="$ticks3" 'BEGIN {
        procs = (n == "plain") ? 1 : n;
        per_tick = (c3 - c1) / (t3 - t1);
        printf "N=%s: %d and %d ticks, CPU %.2f and %.2f s: %.1f us per tick, %.1f us per process-sample\n",
            n, t1, t3, c1, c3, per_tick * 1e6, per_tick * 1e6 / procs }'
done
