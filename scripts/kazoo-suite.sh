#!/usr/bin/env bash
# Runs kazoo's own test suite (kazoo/tests, shipped in kazoo 2.11.0's package, about 490 tests,
# 2 minutes) against zk-testing's embedded server binary: kazoo's harness is pointed at one
# `zk-testing-server` process by the pytest plugin scripts/kazoo-suite/zk_testing_cluster.py.
# On demand, not part of scripts/test.sh:
#
#   bash scripts/kazoo-suite.sh [pytest arguments, e.g. -k test_lock]
#
# Makes a venv at ${CARGO_TARGET_DIR:-target}/kazoo-suite-venv (kazoo and what its tests
# import: pytest, pyOpenSSL, pyjks, objgraph, gevent, eventlet) on first use, and builds the
# binary. With one server, the tests that need an ensemble cannot pass (kazoo's harness
# otherwise starts three JVMs): TestClient::test_update_host_list and its gevent and eventlet
# copies, TestReconfig's three tests and TestReadOnlyMode::test_read_only. TestSSLClient needs
# the harness's own certificates on a secure port, which the plugin does not set up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target_dir=${CARGO_TARGET_DIR:-target}
venv=$target_dir/kazoo-suite-venv
if ! "$venv/bin/python" -c 'import kazoo.testing.common, pytest, objgraph, gevent, eventlet' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        kazoo==2.11.0 pytest pyOpenSSL pyjks objgraph gevent eventlet
fi
cargo build --quiet -p zkrs-testing --features cli --bin zk-testing-server
target_abs=$(cd "$target_dir" && pwd)
export ZK_TESTING_SERVER=$target_abs/debug/zk-testing-server
export PYTHONPATH=$PWD/scripts/kazoo-suite
cd "$target_abs"
exec timeout 1800 "$target_abs/kazoo-suite-venv/bin/python" -m pytest -p zk_testing_cluster -p no:cacheprovider -q \
    --pyargs kazoo.tests "$@"
