#!/usr/bin/env python3
"""One kazoo client reading and writing without pause, for the member-failover scenarios of
examples/quorum_failover (F: the follower it is on dies; L: the quorum leader dies).

    python kazoo_probe.py --connect HOSTS --path /probe [--session-timeout-ms 10000]

kazoo 2.11 with its defaults but the session timeout. Two threads loop, each 10 ms apart: one
reads <path> (get), one writes it (set); an operation that fails (kazoo raises ConnectionLoss
at once while disconnected) is simply tried again. A connection state listener records
SUSPENDED / CONNECTED / LOST with the wall clock.

Prints one JSON object per line on stdout:
  {"ev":"on","server":"HOST:PORT"}           once connected (the member it is on)
  {"ev":"result","server":...,"disconnected":T,"reconnected":T,"read":T,"write":T}
where each T is µs since the epoch or null: the first disconnection at or after t0, the first
reconnection after it, and the completion of the first read and of the first write that
started at or after t0 and succeeded. It waits for "killed <t0 µs>" on stdin, prints the
result once it has all four (or after 40 s), and exits.
"""

import argparse
import json
import os
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState

LIMIT_S = 40.0


def now_us():
    return time.time_ns() // 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--session-timeout-ms", type=int, default=10000)
    args = ap.parse_args()

    lock = threading.Lock()
    states = []  # (t, state)
    ops = []  # (kind, started, ended)
    zk = KazooClient(hosts=args.connect, timeout=args.session_timeout_ms / 1000.0)
    zk.add_listener(lambda state: states.append((now_us(), state)))
    zk.start(timeout=30)
    zk.ensure_path(args.path)
    host, port = zk._connection._socket.getpeername()[:2]
    server = "%s:%d" % (host, port)
    print(json.dumps({"ev": "on", "server": server}, separators=(",", ":")), flush=True)

    stop = threading.Event()

    def loop(kind):
        while not stop.is_set():
            started = now_us()
            try:
                if kind == "read":
                    zk.get(args.path)
                else:
                    zk.set(args.path, b"x")
                with lock:
                    ops.append((kind, started, now_us()))
            except Exception:
                pass
            time.sleep(0.01)

    for kind in ("read", "write"):
        threading.Thread(target=loop, args=(kind,), daemon=True).start()

    line = sys.stdin.readline().split()
    t0 = int(line[1]) if len(line) == 2 and line[0] == "killed" else now_us()
    deadline = time.time() + LIMIT_S
    result = {}
    while time.time() < deadline:
        with lock:
            seen = list(states)
            done = list(ops)
        lost = next((t for t, s in seen if t >= t0 and s in (KazooState.SUSPENDED, KazooState.LOST)), None)
        back = next((t for t, s in seen if lost is not None and t > lost and s == KazooState.CONNECTED), None)
        first = lambda k: min((e for kind, s, e in done if kind == k and s >= t0), default=None)
        result = {"disconnected": lost, "reconnected": back, "read": first("read"), "write": first("write")}
        if all(v is not None for v in result.values()):
            break
        time.sleep(0.02)
    stop.set()
    print(json.dumps({"ev": "result", "server": server, **result}, separators=(",", ":")), flush=True)
    # Stopping the client may wait on a connection; the measurement is done.
    os._exit(0)


if __name__ == "__main__":
    main()
