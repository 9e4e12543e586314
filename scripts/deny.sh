#!/usr/bin/env bash
# Checks the dependency tree against deny.toml with cargo-deny: the licences it may use, banned
# or duplicated crates, and where crates may come from (crates.io only). Not the advisories:
# their database cannot be fetched on this project's machines (see deny.toml).
#
# Installs the pinned cargo-deny with `cargo install --locked` into ~/.cargo/bin when that
# version is not there yet (a few minutes, once per machine); running it again is cheap.
# Extra arguments go to `cargo deny check`, e.g. `bash scripts/deny.sh licenses`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly CARGO_DENY_VERSION=0.20.2

die() {
    echo "deny.sh: $*" >&2
    exit 1
}

installed_version() {
    cargo deny --version 2>/dev/null | awk '{print $2}'
}

if [[ $(installed_version || true) != "$CARGO_DENY_VERSION" ]]; then
    echo "deny.sh: installing cargo-deny $CARGO_DENY_VERSION" >&2
    # Built in a temporary directory of its own, not the workspace's target directory.
    env -u CARGO_TARGET_DIR cargo install --locked --quiet cargo-deny --version "$CARGO_DENY_VERSION" ||
        die "cargo install cargo-deny $CARGO_DENY_VERSION failed"
    [[ $(installed_version || true) == "$CARGO_DENY_VERSION" ]] ||
        die "cargo deny --version does not say $CARGO_DENY_VERSION after installing it (PATH?)"
fi

if [[ $# -eq 0 ]]; then
    set -- licenses bans sources
fi
# Without the inclusion graph of each finding, which makes the duplicate-version warnings a
# few hundred lines: `cargo deny check bans` shows them.
cargo deny check --hide-inclusion-graph "$@"
