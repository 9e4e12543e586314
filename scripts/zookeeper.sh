#!/usr/bin/env bash
# Makes sure a real ZooKeeper server is available for the integration tests.
#
# zk-testing's RealZooKeeper runs Debian's `zookeeper` package (3.8 on bookworm) straight from
# /usr/share/java/zookeeper.jar with the distribution's JRE. The interop test
# (zk-testing/tests/interop.rs) also compiles a Curator program with `javac` against Debian's
# Curator jars. This script installs whatever is missing of those packages (and the JRE and JDK
# they need) with apt-get, then prints the versions it found. Running it again is cheap:
# nothing is installed twice.
set -euo pipefail

readonly JAR=/usr/share/java/zookeeper.jar
# Debian package -> a file it installs; the package is installed when the file is missing.
readonly -A PACKAGE_FILES=(
    [zookeeper]=$JAR
    [libcurator-client-java]=/usr/share/java/curator-client.jar
    [libcurator-framework-java]=/usr/share/java/curator-framework.jar
    [libcurator-recipes-java]=/usr/share/java/curator-recipes.jar
    [libslf4j-java]=/usr/share/java/slf4j-nop.jar
    [default-jdk-headless]=/usr/bin/javac
)

die() {
    echo "zookeeper.sh: $*" >&2
    exit 1
}

# Installs the packages named in "$@" with apt-get.
install_packages() {
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get is not available; install the Debian packages '$*' (ZooKeeper 3.8, Curator) by hand"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "run this script as root (or install sudo) so it can apt-get install $*"
        sudo=(sudo)
    fi
    echo "zookeeper.sh: installing Debian packages: $*" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
        die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        die "apt-get install $* failed"
}

missing=()
for package in "${!PACKAGE_FILES[@]}"; do
    [[ -e ${PACKAGE_FILES[$package]} ]] || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    install_packages "${missing[@]}"
fi
for package in "${!PACKAGE_FILES[@]}"; do
    [[ -e ${PACKAGE_FILES[$package]} ]] ||
        die "the $package package is installed but ${PACKAGE_FILES[$package]} is still missing"
done

java_bin=java
if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    java_bin=$JAVA_HOME/bin/java
fi
command -v "$java_bin" >/dev/null 2>&1 ||
    die "no java found (PATH or JAVA_HOME); install a JRE, e.g. apt-get install default-jre-headless"
java_version=$("$java_bin" -version 2>&1 | head -n 1) || die "'$java_bin -version' failed"

zk_version=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || true)
jar_file=$(readlink -f "$JAR")
curator_version=$(dpkg-query -W -f='${Version}' libcurator-framework-java 2>/dev/null || true)
echo "zookeeper: ${zk_version:-unknown package version} ($jar_file)"
echo "curator: ${curator_version:-unknown package version}"
echo "java: $java_version"
