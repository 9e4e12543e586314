#!/usr/bin/env bash
# The embedded server against a real ZooKeeper 3.8, in one run, with the same bench binary:
#   1. start-up time (examples/startup.rs);
#   2. pipelined and sequential throughput of one client against the real server and against
#      the zk-testing-server binary (examples/bench.rs);
#   3. resident memory of the binary holding 1,000,000 znodes of 100 bytes.
# The real server is started and stopped by scripts/real-zk.sh. Prints one JSON line per
# measurement. Loopback only; every server it starts it stops by PID.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench=target/release/examples/bench
server=target/release/zk-testing-server

run() { # name connect-string args...
    local name=$1 connect=$2; shift 2
    printf '{"server":"%s",' "$name"
    timeout 300 "$bench" --connect "$connect" "$@" 2>/dev/null | tail -1 | sed 's/^{//'
}

# The throughput part, run by this script under real-zk.sh (below): ZK_CONNECT is the real
# ZooKeeper, $2 the embedded server's connect string.
if [[ ${1-} == --throughput ]]; then
    embedded=$2
    echo "# throughput (a throwaway warm-up pass against the JVM first)" >&2
    run real "$ZK_CONNECT" --workload get --ops 100000 --concurrency 1000 >/dev/null
    for target in "real $ZK_CONNECT" "embedded $embedded"; do
        set -- $target
        run "$1" "$2" --workload get --ops 20000 --concurrency 1
        run "$1" "$2" --workload get --ops 200000 --concurrency 1000
        run "$1" "$2" --workload set --ops 200000 --concurrency 1000
        run "$1" "$2" --workload create --ops 200000 --concurrency 1000
    done
    exit 0
fi

bash scripts/zookeeper.sh >/dev/null
cargo build --release -q --example bench --example startup -p zk-examples
cargo build --release -q -p zkrs-testing --features cli --bin zk-testing-server
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

echo "# start-up" >&2
target/release/examples/startup --embedded 200 --real 3

emb_port=$(free_port)
"$server" --port "$emb_port" >"$tmp/emb.log" 2>&1 &
pids+=($!)
for attempt in $(seq 100); do
    [[ $( (exec 3<>"/dev/tcp/127.0.0.1/$emb_port" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null) == imok ]] && break
    if ((attempt == 100)); then
        cat "$tmp/emb.log" >&2
        echo "bench-embedded.sh: the embedded server did not answer ruok on 127.0.0.1:$emb_port" >&2
        exit 1
    fi
    sleep 0.1
done
# The real ZooKeeper 3.8 comes from real-zk.sh, with a 512 MB heap for the 200,000-node runs
# and the extended types enabled as in the test harness (zk-testing/src/real.rs).
REAL_ZK_HEAP=512m REAL_ZK_JAVA_OPTS=-Dzookeeper.extendedTypesEnabled=true \
    bash scripts/real-zk.sh bash scripts/bench-embedded.sh --throughput "127.0.0.1:$emb_port"

echo "# memory: 1,000,000 znodes of 100 bytes in a fresh binary" >&2
mem_port=$(free_port)
"$server" --port "$mem_port" >"$tmp/mem.log" 2>&1 &
mem_pid=$!
pids+=($mem_pid)
sleep 0.5
"$bench" --connect "127.0.0.1:$mem_port" --workload create --ops 1000000 --payload 100 \
    --concurrency 1000 --warmup 0 --keep 2>/dev/null >/dev/null
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$mem_pid/status)
znodes=$(exec 3<>/dev/tcp/127.0.0.1/$mem_port && printf mntr >&3 && cat <&3 | awk '/zk_znode_count/ {print $2}')
echo "{\"server\":\"embedded\",\"znodes\":$znodes,\"payload\":100,\"rss_mb\":$((rss_kb / 1024))}"
