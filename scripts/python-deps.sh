#!/usr/bin/env bash
# Makes sure the Python the interop test (zk-testing/tests/interop.rs) runs kazoo with exists:
# a virtual environment at ${CARGO_TARGET_DIR:-target}/py-venv with kazoo installed from PyPI.
#
# Creates the venv with `python3 -m venv` and pip-installs the pinned kazoo only when they are
# missing, so running it again is cheap and offline. Prints the venv's python and kazoo version.
# The test uses that python unless ZK_TEST_PYTHON names another one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly KAZOO_VERSION=2.11.0

die() {
    echo "python-deps.sh: $*" >&2
    exit 1
}

target_dir=${CARGO_TARGET_DIR:-target}
venv=$target_dir/py-venv
python=$venv/bin/python

installed_kazoo() {
    [[ -x $python ]] || return 1
    "$python" -c 'import importlib.metadata as m; print(m.version("kazoo"))' 2>/dev/null
}

if [[ $(installed_kazoo || true) != "$KAZOO_VERSION" ]]; then
    command -v python3 >/dev/null 2>&1 ||
        die "python3 is missing; install it (Debian: apt-get install python3 python3-venv)"
    if [[ ! -x $python ]]; then
        mkdir -p "$target_dir"
        python3 -m venv "$venv" ||
            die "python3 -m venv $venv failed (Debian: apt-get install python3-venv)"
    fi
    "$python" -m pip install --quiet --disable-pip-version-check "kazoo==$KAZOO_VERSION" ||
        die "pip install kazoo==$KAZOO_VERSION into $venv failed"
    [[ $(installed_kazoo || true) == "$KAZOO_VERSION" ]] ||
        die "kazoo $KAZOO_VERSION is still not importable from $python"
fi

echo "python: $("$python" --version 2>&1) ($python)"
echo "kazoo: $(installed_kazoo)"
