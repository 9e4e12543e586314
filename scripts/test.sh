#!/usr/bin/env bash
# Runs every test in the workspace: unit, integration and doc tests, including the ones that
# talk to a real ZooKeeper server (installed on demand by scripts/zookeeper.sh) and the
# interop tests' Python venv with kazoo (created on demand by scripts/python-deps.sh); then
# every example on the embedded server, and the tour once against a real ZooKeeper 3.8
# (scripts/real-zk.sh).
#
# Extra arguments go to cargo test, e.g. `bash scripts/test.sh -- --nocapture`.
# Runs everything, then exits with the first failing status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/zookeeper.sh
bash scripts/python-deps.sh

status=0
# Records the first failure ($1 describes the step) and carries on.
failed() {
    local rc=$?
    echo "test.sh: $1 failed (exit $rc)" >&2
    [[ $status -ne 0 ]] || status=$rc
}

# One run for every kind of test: unit, integration, doc tests and the example marked
# `test = true`. It builds the examples as programs too, so the loop below does not compile
# them again.
cargo test --workspace --no-fail-fast "$@" || failed "cargo test"

# zk-testing's proptest strategy (feature `proptest`, off in the run above): its tests in the
# `prop` binary and its doc example, nothing else again. With `cli`, which the run above has
# (examples/Cargo.toml enables it), so that only zk-testing is rebuilt.
cargo test -p zkrs-testing --features proptest,cli --test prop with_proptest "$@" || failed "cargo test --features proptest"
cargo test -p zkrs-testing --features proptest,cli --doc strategy "$@" || failed "doc tests --features proptest"

# zk-core's metrics (feature `metrics`, off in the run above): the test that records them.
cargo test -p zkrs-core --features metrics --test observe_metrics "$@" || failed "cargo test --features metrics"

# TLS (feature `tls`, off in the run above): zk-core's TLS unit and doc tests, then TLS against
# a real ZooKeeper's secureClientPort and the embedded server's TLS listener, and the server
# binary's TLS flags.
cargo test -p zkrs-core --features tls --lib tls "$@" || failed "cargo test -p zkrs-core --features tls"
cargo test -p zkrs-core --features tls --doc tls "$@" || failed "doc tests -p zkrs-core --features tls"
cargo test -p zkrs-testing --features tls,cli --test tls --test binary "$@" || failed "cargo test --features tls"

# Every example named in examples/Cargo.toml, on the embedded server (ZK_CONNECT unset).
examples=$(sed -n 's/^name = "\(.*\)"$/\1/p' examples/Cargo.toml | grep -vx zk-examples)
for example in $examples; do
    case $example in
        # The benchmark needs a server address (--connect, ZK_CONNECT or --real): it gets a tiny
        # smoke run against the real ZooKeeper below instead.
        bench) continue ;;
        # Leader latches across quorum losses on a real 3-member ensemble, against Curator and
        # kazoo: about a minute of JVMs on the shared cores. A benchmark, run by hand (see
        # BENCHMARKS.md); its unit tests run with `cargo test` above.
        quorum_failover) continue ;;
        # The start-up benchmark, tiny: two embedded servers, no JVM.
        startup) args=(--embedded 2 --real 0) ;;
        *) args=() ;;
    esac
    # The metrics example needs the feature that turns the metrics on.
    features=()
    [[ $example == metrics ]] && features=(--features metrics)
    echo "test.sh: example $example" >&2
    env -u ZK_CONNECT cargo run -q "${features[@]}" --example "$example" -- "${args[@]}" >/dev/null || failed "example $example"
done

# The property-test example's planted bug must be caught (it exits non-zero if not).
echo "test.sh: example property_test --buggy" >&2
cargo run -q --example property_test -- --buggy >/dev/null || failed "example property_test --buggy"

# The tour once against a real ZooKeeper 3.8 (the conformance check for the demo), and a tiny
# bench run on the same server.
echo "test.sh: examples tour and bench against a real ZooKeeper" >&2
bash scripts/real-zk.sh bash -c 'cargo run -q --example tour >/dev/null &&
    cargo run -q --example bench -- --workload get --ops 200 --concurrency 4 >/dev/null' ||
    failed "examples tour and bench on a real ZooKeeper"
exit "$status"
