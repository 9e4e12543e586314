#!/usr/bin/env bash
# Makes sure a real ZooKeeper server is available for the integration tests.
#
# zk-testing's RealZooKeeper runs Debian's `zookeeper` package (3.8 on bookworm) straight from
# /usr/share/java/zookeeper.jar with the distribution's JRE. This script installs that package
# (and the JRE it depends on) with apt-get when the jar is missing, then prints the versions it
# found. Running it again is cheap: nothing is installed twice.
set -euo pipefail

readonly JAR=/usr/share/java/zookeeper.jar

die() {
    echo "zookeeper.sh: $*" >&2
    exit 1
}

install_package() {
    command -v apt-get >/dev/null 2>&1 ||
        die "$JAR is missing and apt-get is not available; install ZooKeeper 3.8 (Debian package 'zookeeper') by hand"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "$JAR is missing; run this script as root (or install sudo) so it can apt-get install zookeeper"
        sudo=(sudo)
    fi
    echo "zookeeper.sh: $JAR not found; installing Debian's zookeeper package" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
        die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends zookeeper >/dev/null ||
        die "apt-get install zookeeper failed"
}

[[ -f $JAR ]] || install_package
[[ -f $JAR ]] || die "the zookeeper package is installed but $JAR is still missing"

java_bin=java
if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    java_bin=$JAVA_HOME/bin/java
fi
command -v "$java_bin" >/dev/null 2>&1 ||
    die "no java found (PATH or JAVA_HOME); install a JRE, e.g. apt-get install default-jre-headless"
java_version=$("$java_bin" -version 2>&1 | head -n 1) || die "'$java_bin -version' failed"

zk_version=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || true)
jar_file=$(readlink -f "$JAR")
echo "zookeeper: ${zk_version:-unknown package version} ($jar_file)"
echo "java: $java_version"
