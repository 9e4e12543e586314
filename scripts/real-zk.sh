#!/usr/bin/env bash
# Runs a command against a real ZooKeeper 3.8: starts Debian's `zookeeper` package (installed by
# scripts/zookeeper.sh) on a free loopback port with a throwaway data directory, waits until it
# answers `ruok` and serves, runs the command with ZK_CONNECT=127.0.0.1:<port> in its
# environment, then stops the server (by its PID) and removes the directory, whatever happened.
#
#   bash scripts/real-zk.sh cargo run -q --example tour
#
# The server's JVM takes its maximum heap from REAL_ZK_HEAP (default 256m) and more flags from
# REAL_ZK_JAVA_OPTS (split on spaces), e.g.
#
#   REAL_ZK_HEAP=512m REAL_ZK_JAVA_OPTS=-Dzookeeper.extendedTypesEnabled=true bash scripts/real-zk.sh ...
#
# Exits with the command's status. The server's log is printed if it fails to start.
set -euo pipefail

readonly JAR=/usr/share/java/zookeeper.jar
readonly LOGGER_JAR=/usr/share/java/slf4j-simple.jar
readonly READY_SECONDS=60

die() {
    echo "real-zk.sh: $*" >&2
    exit 1
}

[[ $# -gt 0 ]] || die "usage: bash scripts/real-zk.sh COMMAND [ARGS...]"
[[ -f $JAR ]] || die "$JAR is missing; run 'bash scripts/zookeeper.sh' first"
java=${JAVA_HOME:+$JAVA_HOME/bin/java}
[[ -n $java && -x $java ]] || java=$(command -v java) || die "no java on PATH or in JAVA_HOME"

dir=$(mktemp -d "${TMPDIR:-/tmp}/real-zk-sh-XXXXXX")
zk_pid=
cleanup() {
    if [[ -n $zk_pid ]]; then
        kill "$zk_pid" 2>/dev/null || true
        # Give it a few seconds to exit on TERM, then make sure.
        for _ in $(seq 50); do kill -0 "$zk_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$zk_pid" 2>/dev/null || true
        wait "$zk_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback port: bind port 0 and read what the kernel chose. Another process could take
# it before ZooKeeper binds it; then the readiness wait below fails with the server's log.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

mkdir "$dir/data"
cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
forceSync=no
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
EOF

classpath=$JAR
[[ -f $LOGGER_JAR ]] && classpath+=":$LOGGER_JAR"
read -r -a java_opts <<<"${REAL_ZK_JAVA_OPTS:-}"
"$java" -Xmx"${REAL_ZK_HEAP:-256m}" -XX:+UseSerialGC -XX:-UsePerfData -Djava.net.preferIPv4Stack=true \
    -Dzookeeper.admin.enableServer=false ${java_opts[@]+"${java_opts[@]}"} -cp "$classpath" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" </dev/null >"$dir/server.log" 2>&1 &
zk_pid=$!

# A four-letter word over bash's /dev/tcp (in a subshell, so a refused connection only ends
# that). `ruok` answers `imok` as soon as the process runs; `srvr` names the mode only once the
# server actually serves requests.
four_letter_word() {
    ( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf '%s' "$1" >&3 && timeout 2 cat <&3) 2>/dev/null || true)
}
serving() {
    [[ $(four_letter_word ruok) == imok ]] && [[ $(four_letter_word srvr) == *"Mode: "* ]]
}
ready=
for _ in $(seq $((READY_SECONDS * 10))); do
    kill -0 "$zk_pid" 2>/dev/null || break
    if serving; then ready=1; break; fi
    sleep 0.1
done
if [[ -z $ready ]]; then
    cat "$dir/server.log" >&2
    die "ZooKeeper did not answer ruok on 127.0.0.1:$port"
fi
echo "real-zk.sh: ZooKeeper (pid $zk_pid) serving on 127.0.0.1:$port" >&2

status=0
ZK_CONNECT="127.0.0.1:$port" "$@" || status=$?
exit "$status"
