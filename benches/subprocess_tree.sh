#!/bin/bash
# pyprobe's CPU per process-sample with --subprocesses: a tree of N Python processes (the
# root and N-1 forked children, each asleep 10 frames deep, so the walk is the same in each)
# recorded at RATE Hz for SECS s, against one process (N=1). CPU is pyprobe's utime+stime
(GNU time's %U + %S). Prints one line per N.
# Usage: benches/subprocess_tree.sh [PYTHON] [PYPROBE] [RATE] [SECS] [N...]
set -euo pipefail
PY=${1:-/root/.pyenv/versions/3.12.1/bin/python}
PYPROBE=${2:-target/debug/pyprobe}
RATE=${3:-100}
SECS=${4:-10}
shift $(( $# < 4 ? $# : 4 ))
SIZES=${*:-1 8 32}
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
for n in $SIZES; do
    # Its own process group, ended by its id below.
    coproc TREEPROC { exec setsid "$PY" "$TREE" "$n"; }
    read -r _ <&"${TREEPROC[0]}"
    root=$TREEPROC_PID
    sleep 0.5
    /usr/bin/time -f "%U %S" -o "$OUT/time" "$PYPROBE" record --subprocesses --idle -p "$root" \
        -r "$RATE" -d "$SECS" -f raw -o "$OUT/out.txt" 2> "$OUT/err"
    kill -KILL -- "-$root" || true
    wait "$root" 2>/dev/null || true
    read -r user sys < "$OUT/time"
    samples=$(grep -o '^pyprobe: [0-9]* samples' "$OUT/err" | grep -o '[0-9]*')
    seen=$(grep -o '[0-9]* processes seen, [0-9]* sampled' "$OUT/err" || true)
    awk -v n="$n" -v u="$user" -v s="$sys" -v k="$samples" -v seen="$seen" 'BEGIN {
        cpu = u + s;
        printf "N=%d: %d ticks (%s), pyprobe CPU %.2f s, %.1f us per process-sample\n",
            n, k, seen, cpu, cpu * 1e6 / (k * n) }'
done
