#!/usr/bin/env bash
# Soak of `record --push` (issue 19): two copies of tests/scripts/endless.py, one recorded by
# `pyprobe record --push` to a local sink (tests/scripts/push_sink.py, decoding every window),
# the other by a plain `pyprobe record`, both at 100 Hz for SECS seconds (default 600). Every
# 10 s it prints each pyprobe's RSS and CPU time; at the end, CPU per sample of both.
# Usage: benches/push_soak.sh [SECS] [PYPROBE]   (PYPROBE: default target/dist/pyprobe)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-600}"
pyprobe="${2:-target/dist/pyprobe}"
python=/root/.pyenv/versions/3.12.1/bin/python
mapfile -t deps < <(bash tools/install-test-decoders)
work="$(mktemp -d /tmp/push-soak.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
PPROF_FORMAT_MODULES="${deps[1]}" "${deps[0]}" tests/scripts/push_sink.py "$work/received.jsonl" >"$work/sink.out" &
pids+=($!)
"$python" tests/scripts/endless.py >"$work/t1.out" & t1=$!; pids+=($t1)
"$python" tests/scripts/endless.py >"$work/t2.out" & t2=$!; pids+=($t2)
for _ in $(seq 100); do grep -q ready "$work/sink.out" && grep -q pid "$work/t1.out" && grep -q pid "$work/t2.out" && break; sleep 0.1; done
port=$(awk '/ready/ {print $2}' "$work/sink.out")
"$pyprobe" record -p "$t1" -r 100 -d "$secs" --push "http://127.0.0.1:$port" 2>"$work/push.err" & push=$!; pids+=($push)
"$pyprobe" record -p "$t2" -r 100 -d "$secs" -o "$work/plain.svg" 2>"$work/plain.err" & plain=$!; pids+=($plain)
hz=$(getconf CLK_TCK)
cpu() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo NA; }
rss() { awk '/VmRSS/ {print $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo NA; }
start=$(date +%s)
printf "%6s  %10s %10s  %10s %10s\n" t push_MB push_cpu_s plain_MB plain_cpu_s
last_t=0; push_cpu=0; plain_cpu=0
while kill -0 "$push" 2>/dev/null && kill -0 "$plain" 2>/dev/null; do
    sleep 10
    t=$(( $(date +%s) - start ))
    c1=$(cpu "$push"); c2=$(cpu "$plain")
    [ "$c1" = NA ] || [ "$c2" = NA ] && break
    push_cpu=$c1; plain_cpu=$c2; last_t=$t
    printf "%6s  %10.1f %10.2f  %10.1f %10.2f\n" "$t" "$(rss "$push")" "$c1" "$(rss "$plain")" "$c2"
done
wait "$push" || true; wait "$plain" || true
echo "push:  $(grep samples "$work/push.err")"
echo "plain: $(grep samples "$work/plain.err")"
echo "windows received by the sink: $(wc -l <"$work/received.jsonl")"
awk -v t="$last_t" -v a="$push_cpu" -v b="$plain_cpu" 'BEGIN {
    printf "CPU per sample at %d s (100 Hz): push %.1f us, plain %.1f us (push/plain %.2f)\n",
        t, a / (t * 100) * 1e6, b / (t * 100) * 1e6, (b > 0 ? a / b : 0) }'
rm -rf "$work"
