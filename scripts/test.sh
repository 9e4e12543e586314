#!/usr/bin/env bash
# Runs every test in the workspace: unit, integration and doc tests, including the ones that
# talk to a real ZooKeeper server (installed on demand by scripts/zookeeper.sh) and the
# interop tests' Python venv with kazoo (created on demand by scripts/python-deps.sh).
#
# Extra arguments go to both cargo invocations, e.g. `bash scripts/test.sh -- --nocapture`.
# Exits with the first failing cargo status, after running both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/zookeeper.sh
bash scripts/python-deps.sh

status=0
cargo test --workspace --all-targets "$@" || status=$?
cargo test --workspace --doc "$@" || { rc=$?; [[ $status -ne 0 ]] || status=$rc; }
# The README's demo command and the HA example, on the embedded server.
for example in tour ha_master; do
    cargo run -q --example "$example" >/dev/null || { rc=$?; echo "example $example failed (exit $rc)" >&2; [[ $status -ne 0 ]] || status=$rc; }
done
exit "$status"
