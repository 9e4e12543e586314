#!/usr/bin/env bash
# Packages the published crates as `cargo publish` would and checks what they ship:
#
#   1. the manifests carry what crates.io needs and cargo does not check before an upload
#      (a description, licence, repository and README; at most 5 keywords of at most 20
#      characters; at most 5 categories);
#   2. `cargo package` builds each crate from its own package with every feature, in
#      dependency order (zkrs-core, then zkrs-recipes and zkrs-testing, which resolve it from
#      the package just made rather than from crates.io);
#   3. each package holds only what building and documenting the crate needs, the sources
#      under src/, the README and the licence, plus the files cargo adds itself: no tests, test programs
#      (.java, .py), fixtures or data. Each file and each package stays under a size cap.
#
# Publishes nothing. Works on a work tree with local changes too (--allow-dirty): it checks the
# files as they are.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# In dependency order.
readonly CRATES=(zkrs-core zkrs-recipes zkrs-testing)
readonly MAX_FILE_BYTES=$((100 * 1024))
readonly MAX_CRATE_BYTES=$((512 * 1024))

die() {
    echo "package.sh: $*" >&2
    exit 1
}

# 1. Metadata, from `cargo metadata`.
cargo metadata --no-deps --format-version 1 | python3 -c '
import json, re, sys
crates = sys.argv[1:]
packages = {p["name"]: p for p in json.load(sys.stdin)["packages"]}
problems = []
for name in crates:
    p = packages.get(name)
    if p is None:
        problems.append(f"{name}: not a workspace member")
        continue
    for field in ("description", "license", "repository", "readme", "rust_version"):
        if not p.get(field):
            problems.append(f"{name}: no {field}")
    keywords, categories = p.get("keywords") or [], p.get("categories") or []
    if not 1 <= len(keywords) <= 5:
        problems.append(f"{name}: {len(keywords)} keywords (crates.io takes 1 to 5)")
    problems += [f"{name}: keyword {k!r} (at most 20 of a-z 0-9 _ - +, starting with a letter)"
                 for k in keywords if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_+-]{0,19}", k)]
    if not 1 <= len(categories) <= 5:
        problems.append(f"{name}: {len(categories)} categories (crates.io takes 1 to 5)")
for problem in problems:
    print(f"package.sh: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
' "${CRATES[@]}" || die "manifest metadata incomplete (see above)"

# 2. Package and verify. The tests are left out of the packages on purpose (see the manifests'
# `include`), so cargo's "ignoring test ..." warning for each of them is expected: filtered.
selection=()
for crate in "${CRATES[@]}"; do
    selection+=(-p "$crate")
done
# --all-features: zkrs-testing's binary (`cli`) and proptest strategy build from the package too.
# cargo verifies zkrs-recipes and zkrs-testing against the zkrs-core it just packaged, through a
# local overlay registry that it extracts under $CARGO_HOME/registry/src/-<hash of the
# workspace path>/. It does not extract a version again that is there already, so a second run
# in the same checkout would verify against the sources of the first: remove our own crates'
# extractions from those overlay directories (crates.io's directories are not named `-*`).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
for crate in "${CRATES[@]}"; do
    rm -rf "$cargo_home"/registry/src/-*/"$crate"-[0-9]*
done
cargo package --allow-dirty --all-features "${selection[@]}" 2>&1 |
    { grep -v '^warning: ignoring test `.*` as `.*` is not included in the published package$' || true; }

# 3. What each package holds, read from the .crate files themselves.
target_dir=${CARGO_TARGET_DIR:-target}
status=0
for crate in "${CRATES[@]}"; do
    pkgid=$(cargo pkgid -p "$crate")
    version=${pkgid##*@}
    file=$target_dir/package/$crate-$version.crate
    [[ -f $file ]] || die "$file is missing after cargo package"
    bytes=$(stat -c %s "$file")
    count=0
    unexpected=()
    # tar -tv: mode owner size date time path
    while read -r _ _ size _ _ path; do
        count=$((count + 1))
        relative=${path#"$crate-$version/"}
        case $relative in
            Cargo.toml | Cargo.toml.orig | Cargo.lock | .cargo_vcs_info.json | README.md | LICENSE | src/*.rs) ;;
            *) unexpected+=("$relative (not a source file, the README or the licence)") ;;
        esac
        ((size <= MAX_FILE_BYTES)) || unexpected+=("$relative ($size bytes, over $MAX_FILE_BYTES)")
    done < <(tar -tvzf "$file")
    echo "package.sh: $crate $version: $count files, $((bytes / 1024)) KiB packed"
    if ((bytes > MAX_CRATE_BYTES)); then
        echo "package.sh: $crate: the package is $bytes bytes, over $MAX_CRATE_BYTES" >&2
        status=1
    fi
    if [[ ${#unexpected[@]} -gt 0 ]]; then
        printf "package.sh: $crate ships %s\n" "${unexpected[@]}" >&2
        status=1
    fi
done
[[ $status -eq 0 ]] || die "a package holds more than it should: adjust \`include\` in its Cargo.toml"
