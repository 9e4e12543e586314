#!/usr/bin/env bash
# The cost of zk-core's `metrics` feature with no recorder installed: instructions executed
# by the bench client (valgrind's callgrind, which counts instructions whatever else the
# machine does) for pipelined gets against one real ZooKeeper, a plain build against one with
# `--features zkrs-core/metrics`, alternating, ROUNDS times (default 3).
#
#   bash scripts/real-zk.sh bash scripts/bench-metrics-cost.sh
#
# Needs ZK_CONNECT (real-zk.sh sets it) and valgrind (Debian: apt-get install valgrind).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -n ${ZK_CONNECT:-} ]] || { echo "bench-metrics-cost.sh: ZK_CONNECT is not set" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "bench-metrics-cost.sh: valgrind is missing" >&2; exit 2; }
readonly OPS=${OPS:-20000} CONCURRENCY=${CONCURRENCY:-100} ROUNDS=${ROUNDS:-3}
target=${CARGO_TARGET_DIR:-target}
bins=$(mktemp -d "${TMPDIR:-/tmp}/metrics-cost-XXXXXX")
trap 'rm -rf "$bins"' EXIT
cargo build -q --release --example bench
cp "$target/release/examples/bench" "$bins/plain"
cargo build -q --release --features zkrs-core/metrics --example bench
cp "$target/release/examples/bench" "$bins/metrics"
echo "pipelined get, $OPS ops, $CONCURRENCY in flight, against $ZK_CONNECT"
for round in $(seq "$ROUNDS"); do
    for build in plain metrics; do
        out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bins/$build" \
            --connect "$ZK_CONNECT" --workload get --ops "$OPS" --concurrency "$CONCURRENCY" 2>&1)
        ir=$(grep -o 'Collected : [0-9]*' <<<"$out" | grep -o '[0-9]*$') ||
            { echo "$out" >&2; exit 1; }
        echo "round $round $build: $ir instructions, $((ir / OPS)) per op"
    done
done
