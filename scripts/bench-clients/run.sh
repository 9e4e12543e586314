#!/usr/bin/env bash
# Runs the same workloads with three ZooKeeper clients against one server and prints one JSON
# line per run: ours (examples/bench.rs), the Apache Java client (ZkBench.java) and kazoo
# (kazoo_bench.py). Starts no server: pass the one to use.
#
#   scripts/bench-clients/run.sh --connect 127.0.0.1:2181 [--clients "ours java kazoo"]
#
# Builds what it needs: the Rust bench (cargo build --release --example bench), ZkBench.java
# (javac into a temporary directory, against /usr/share/java/zookeeper.jar) and a kazoo venv at
# ${TMPDIR:-/tmp}/zk-bench-kazoo-venv (pip install kazoo, once). Every client run is bounded by
# `timeout 300`; a failed run prints a {"client":..,"error":..} line and the script goes on.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
connect=""
clients="ours java kazoo"
while [[ $# -gt 0 ]]; do
    case $1 in
        --connect) connect=${2:?--connect needs HOST:PORT}; shift 2 ;;
        --clients) clients=${2:?--clients needs a list}; shift 2 ;;
        -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -n $connect ]] || { echo "run.sh: --connect HOST:PORT is required" >&2; exit 2; }

readonly ZK_JAR=/usr/share/java/zookeeper.jar
tmp=${TMPDIR:-/tmp}
venv=$tmp/zk-bench-kazoo-venv
classes=""
log=$(mktemp "$tmp/zk-bench-log.XXXXXX")
cleanup() { if [[ -n $classes ]]; then rm -rf "$classes"; fi; rm -f "$log"; }
trap cleanup EXIT

for c in $clients; do
    case $c in
        ours)
            (cd "$repo" && cargo build --release --example bench >&2)
            ;;
        java)
            [[ -f $ZK_JAR ]] || { echo "run.sh: $ZK_JAR missing (scripts/zookeeper.sh installs it)" >&2; exit 1; }
            classes=$(mktemp -d "$tmp/zk-bench-java.XXXXXX")
            javac -nowarn -cp "$ZK_JAR" -d "$classes" "$here/ZkBench.java" >&2
            ;;
        kazoo)
            if ! "$venv/bin/python" -c 'import kazoo' 2>/dev/null; then
                python3 -m venv "$venv" >&2
                "$venv/bin/pip" install -q kazoo >&2
            fi
            ;;
        *) echo "run.sh: unknown client $c (ours, java, kazoo)" >&2; exit 2 ;;
    esac
done

# slf4j without a binding only warns; the no-op binding keeps the Java client's logging silent.
java_cp=$ZK_JAR
[[ -f /usr/share/java/slf4j-nop.jar ]] && java_cp=$java_cp:/usr/share/java/slf4j-nop.jar

run_one() { # client, then bench flags
    local client=$1 out rc=0
    shift
    case $client in
        ours) out=$(timeout 300 "$repo/target/release/examples/bench" --connect "$connect" "$@" 2>"$log") || rc=$? ;;
        java) out=$(timeout 300 java -cp "$java_cp:$classes" ZkBench --connect "$connect" "$@" 2>"$log") || rc=$? ;;
        kazoo) out=$(timeout 300 "$venv/bin/python" "$here/kazoo_bench.py" --connect "$connect" "$@" 2>"$log") || rc=$? ;;
    esac
    local last
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [[ $rc -ne 0 || $last != \{* ]]; then
        echo "run.sh: $client $* failed (exit $rc); its last stderr lines:" >&2
        tail -n 5 "$log" >&2
        echo "{\"client\":\"$client\",\"args\":\"$*\",\"error\":\"exit $rc\"}"
    elif [[ $client == ours ]]; then
        echo "{\"client\":\"ours\",${last#\{}"
    else
        echo "$last"
    fi
}

for c in $clients; do
    run_one "$c" --workload get --concurrency 1 --ops 20000
    run_one "$c" --workload get --concurrency 1000 --ops 100000
    run_one "$c" --workload set --concurrency 1000 --ops 100000
    run_one "$c" --workload create --concurrency 1000 --ops 50000
done
