#!/usr/bin/env bash
# The whole test suite N times in a row (default 5), each beside a cold `cargo build --release`
# of a second clone of this repository: the load issue 13 asks the suite to survive.
#
#   bash benches/suite_under_load.sh [RUNS] [CLONE_DIR]
#
# One line per run in target/suite-under-load.txt: exit status, seconds, failed tests.
set -u
cd "$(dirname "$0")/.."
runs=${1:-5}
clone=${2:-$(mktemp -d)/clone}
[ -d "$clone" ] || git clone -q . "$clone"
report=target/suite-under-load.txt
mkdir -p target
: >"$report"
for i in $(seq 1 "$runs"); do
    (cd "$clone" && cargo clean -q && cargo build --release -q >/dev/null 2>&1) &
    build=$!
    start=$(date +%s)
    cargo test --workspace --no-fail-fast >"target/suite-under-load-$i.log" 2>&1
    rc=$?
    busy=$(kill -0 "$build" 2>/dev/null && echo yes || echo no)
    failed=$(grep -E '^test .*FAILED' "target/suite-under-load-$i.log" | tr '\n' ' ')
    echo "run $i: exit $rc, $(($(date +%s) - start)) s, build still running: $busy; $failed" >>"$report"
    kill "$build" 2>/dev/null
    wait "$build" 2>/dev/null
done
cat "$report"
