#!/usr/bin/env bash
# Soak test (by hand, not in CI): a long recording at 1 kHz of a busy Python program, watching
# pyprobe's own memory. Aggregation keeps no per-sample data, so its RSS must stay flat; the
# progress line it shows must match the wall clock and the rate.
#
#   benches/soak.sh [MINUTES]      default 30; e.g. `benches/soak.sh 3` for a short run
#
# Environment: PYTHON (default: pyenv 3.11.7, else python3), RATE (default 1000),
# INTERVAL seconds between readings (default 10), PYPROBE (default: a release build of this
# repository, built first).
#
# Every INTERVAL it prints pyprobe's VmRSS and VmHWM (/proc/PID/status) and its latest progress
# line; at the end, the RSS at 1 minute against the RSS at the end, and pyprobe's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-30}
rate=${RATE:-1000}
interval=${INTERVAL:-10}
seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
python=${PYTHON:-/root/.pyenv/versions/3.11.7/bin/python}
[ -x "$python" ] || python=$(command -v python3)

if [ -z "${PYPROBE:-}" ]; then
    cargo build --release --quiet
    PYPROBE=$PWD/target/release/pyprobe
fi
command -v script >/dev/null || { echo "soak.sh needs script(1) (util-linux) for a terminal" >&2; exit 1; }

work=$(mktemp -d)
target_pid=""
probe_pid=""
cleanup() {
    # Only the processes this script started, by pid.
    [ -n "$probe_pid" ] && kill "$probe_pid" 2>/dev/null || true
    [ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The busy target: two threads burning CPU in known functions. Wait for its ready line.
"$python" tests/scripts/cpu_split.py thread >"$work/target.out" 2>&1 &
target_pid=$!
for _ in $(seq 600); do
    grep -q '^ready' "$work/target.out" 2>/dev/null && break
    kill -0 "$target_pid" 2>/dev/null || { echo "target died: $(cat "$work/target.out")" >&2; exit 1; }
    sleep 0.1
done
grep -q '^ready' "$work/target.out" || { echo "target never became ready" >&2; exit 1; }

# pyprobe under a pseudo-terminal (script), so it shows the progress line it would show a user.
# The inner shell records its pid and then becomes pyprobe (exec keeps the pid).
script -qefc "sh -c 'echo \$\$ > $work/pyprobe.pid; exec $PYPROBE record --pid $target_pid \
    -r $rate -d $seconds -f raw -o $work/soak.txt'" /dev/null >"$work/pyprobe.log" 2>&1 &
script_pid=$!
for _ in $(seq 100); do [ -s "$work/pyprobe.pid" ] && break; sleep 0.1; done
probe_pid=$(cat "$work/pyprobe.pid")
start=$(date +%s.%N)

kib() { awk -v k="$1" '$1 == k ":" { print $2 }' "/proc/$probe_pid/status" 2>/dev/null; }
progress() { tr '\r' '\n' <"$work/pyprobe.log" | grep 'samples,' | grep -v wrote | tail -1 | sed 's/ *$//'; }

echo "soak: pyprobe $probe_pid recording $python (pid $target_pid) at $rate Hz for ${minutes} min"
printf '%8s  %10s  %10s  %s\n' "wall" "VmRSS" "VmHWM" "pyprobe's progress line"
rss_1min=""
rss_first=""
rss_last=""
next=$interval
while kill -0 "$probe_pid" 2>/dev/null; do
    now=$(date +%s.%N)
    elapsed=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.0f", b - a }')
    if [ "$elapsed" -ge "$next" ]; then
        rss=$(kib VmRSS)
        hwm=$(kib VmHWM)
        [ -z "$rss" ] && break
        [ -z "$rss_first" ] && rss_first=$rss
        [ -z "$rss_1min" ] && [ "$elapsed" -ge 60 ] && rss_1min=$rss
        rss_last=$rss
        line=$(progress)
        # Truthful progress: its seconds follow the wall clock (lag a fraction of a second:
        # it is redrawn every 250 ms), and samples + missed follow rate x seconds.
        check=$(echo "$line" | awk -v rate="$rate" '{
            n = $2; secs = $(NF - 1); missed = 0
            for (i = 1; i <= NF; i++) if ($i == "missed,") missed = $(i - 1)
            if (secs > 0) printf "(samples+missed)/(rate x s) = %.3f", (n + missed) / (rate * secs)
        }')
        printf '%7ss  %7s KiB  %7s KiB  %s  %s\n' "$elapsed" "$rss" "$hwm" "$line" "$check"
        next=$((next + interval))
    fi
    sleep 0.5
done
wait "$script_pid" || true
end=$(date +%s.%N)

echo
echo "pyprobe's summary:"
tr '\r' '\n' <"$work/pyprobe.log" | grep -E 'wrote|memory:' | sed 's/^\x1b\[K//; s/^/  /'
echo "  output: $(wc -c <"$work/soak.txt") bytes, $(wc -l <"$work/soak.txt") distinct stacks"
echo "  wall time: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
[ -z "$rss_1min" ] && rss_1min=$rss_first
if [ -n "$rss_1min" ] && [ -n "$rss_last" ]; then
    awk -v a="$rss_1min" -v b="$rss_last" 'BEGIN {
        printf "RSS at 1 min: %d KiB; at the end: %d KiB; change: %+d KiB (%+.1f%%)\n",
            a, b, b - a, (b - a) * 100 / a }'
fi
