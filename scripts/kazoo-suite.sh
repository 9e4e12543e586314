#!/usr/bin/env bash
# Runs kazoo's own test suite (kazoo/tests, shipped in kazoo 2.11.0's package, 493 tests, about
# 2 minutes) against zk-testing's embedded server binary: kazoo's harness is pointed at one
# `zk-testing-server` process by the pytest plugin scripts/kazoo-suite/zk_testing_cluster.py.
# On demand, not part of scripts/test.sh:
#
#   bash scripts/kazoo-suite.sh [pytest arguments, e.g. -k test_lock]
#
# Makes a venv at ${CARGO_TARGET_DIR:-target}/kazoo-suite-venv (kazoo and what its tests
# import: pytest, pyOpenSSL, pyjks, objgraph, gevent, eventlet; and pytest-timeout) on first
# use, and builds the binary (features cli and tls). 479 pass and 7 skip (2026-12-07). With one
# server, the 7 tests that need an ensemble cannot pass (kazoo's harness otherwise starts three JVMs): TestClient::test_update_host_list
# and its gevent and eventlet copies, TestReconfig's three tests and
# TestReadOnlyMode::test_read_only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target_dir=${CARGO_TARGET_DIR:-target}
venv=$target_dir/kazoo-suite-venv
# pyOpenSSL 24.3 removed the X509 extension API kazoo's harness makes its certificates with.
readonly PYOPENSSL=24.2.1
if ! "$venv/bin/python" -c "import kazoo.testing.common, pytest, pytest_timeout, objgraph, gevent, eventlet, OpenSSL
assert OpenSSL.__version__ == '$PYOPENSSL'" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        kazoo==2.11.0 pytest pytest-timeout "pyOpenSSL==$PYOPENSSL" pyjks objgraph gevent eventlet
fi
cargo build --quiet -p zkrs-testing --features cli,tls --bin zk-testing-server
target_abs=$(cd "$target_dir" && pwd)
export ZK_TESTING_SERVER=$target_abs/debug/zk-testing-server
export PYTHONPATH=$PWD/scripts/kazoo-suite
cd "$target_abs"
# A test that hangs fails after 120 s (pytest-timeout), with its stack.
exec timeout 1800 "$target_abs/kazoo-suite-venv/bin/python" -m pytest -p zk_testing_cluster -p no:cacheprovider -q \
    --timeout 120 \
    --pyargs kazoo.tests "$@"
