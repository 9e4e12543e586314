#!/usr/bin/env python3
"""A group of kazoo Election participants, each on its own KazooClient, for examples/quorum_failover.rs.

    python kazoo_latch.py --connect 127.0.0.1:2181 --path /election \
        [--participants 3] [--session-timeout-ms 4000]

kazoo 2.11's `Election` (kazoo/recipe/election.py) is its `Lock` recipe: `run(func)` acquires
the lock (an ephemeral-sequential node `<path>/<uuid>__lock__<seq>` holding the identifier) and
calls `func` while holding it. Each participant runs `run` in its own thread; its leadership
function reports `leader` and then blocks until the program quits. kazoo never tells a running
leadership function that the lock was lost (a suspended connection or an expired session does
not interrupt it), so `leader` stays true for as long as the function runs: that is the
recipe's behaviour, and what the driver measures. kazoo's defaults everywhere except the
session timeout (`KazooClient(timeout=...)`): the connection retries for ever with delays
from 0.1 s doubling to at most 3,600 s, with jitter.

Prints one JSON object per line on stdout, each with "t_us" (wall clock, µs since the epoch)
and "ev":
  conn    {"p","state" (KazooState),"up","session"}   from a connection state listener
  leader  {"p","leader","node"}                       when the leadership function starts/ends
  ready   once every participant is connected and its election thread started
  status  {"p","session","up","leader","node","owned"} per participant ("owned": its node
          exists and its current session owns it; null when unknown), then
  status_end {"first"}: the first lock node on the server (kazoo's order), or null
  error   {"what"}, bye
Reads commands on stdin, one per line: "status", or "quit" (so does end of input): stops
every client (bounded by a watchdog) and exits 0.
"""

import argparse
import json
import logging
import os
import re
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState

# How long connecting each participant and one status read may take, and closing everything.
CONNECT_S = 30.0
READ_S = 3.0
QUIT_S = 15.0
SEQUENCE = re.compile(r"__lock__(\d{10})$")

out_lock = threading.Lock()


def emit(**fields):
    line = json.dumps({"lib": "kazoo", "t_us": time.time_ns() // 1000, **fields}, separators=(",", ":"))
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def session_of(zk):
    client_id = zk.client_id
    return hex(client_id[0]) if client_id else None


class Participant:
    def __init__(self, p, args):
        self.p = p
        self.path = args.path
        self.leader = False
        self.stop = threading.Event()
        self.zk = KazooClient(hosts=args.connect, timeout=args.session_timeout_ms / 1000.0)
        self.zk.add_listener(self.on_state)
        self.zk.start(timeout=CONNECT_S)
        self.election = self.zk.Election(args.path, f"p{p}")
        threading.Thread(target=self.campaign, daemon=True).start()

    def on_state(self, state):
        # Runs on kazoo's connection thread: report and return at once.
        up = state == KazooState.CONNECTED
        emit(ev="conn", p=self.p, state=str(state), up=up, session=session_of(self.zk))

    def node(self):
        node = self.election.lock.node
        return f"{self.path}/{node}" if node else None

    def lead(self):
        self.leader = True
        emit(ev="leader", p=self.p, leader=True, node=self.node())
        self.stop.wait()
        self.leader = False
        emit(ev="leader", p=self.p, leader=False, node=self.node())

    def campaign(self):
        try:
            self.election.run(self.lead)
        except Exception as e:  # the client was stopped, or the lock gave up
            if not self.stop.is_set():
                emit(ev="error", what=f"participant {self.p}: election ended: {e!r}")

    def owned(self, node):
        if node is None or not self.zk.connected:
            return None
        try:
            stat = self.zk.exists_async(node).get(timeout=READ_S)
        except Exception:
            return None
        return stat is not None and stat.ephemeralOwner == self.zk.client_id[0]

    def status(self):
        node = self.node()
        emit(ev="status", p=self.p, session=session_of(self.zk), up=self.zk.connected,
             leader=self.leader, node=node, owned=self.owned(node))


def first_node(participants, path):
    for part in participants:
        if not part.zk.connected:
            continue
        try:
            children = part.zk.get_children_async(path).get(timeout=READ_S)
        except Exception:
            continue
        locks = [(m.group(1), c) for c in children if (m := SEQUENCE.search(c))]
        return f"{path}/{min(locks)[1]}" if locks else None
    return None


def quit_all(participants, code):
    threading.Timer(QUIT_S, lambda: os._exit(code or 3)).start()
    for part in participants:
        part.stop.set()
        part.election.cancel()
    for part in participants:
        try:
            part.zk.stop()
            part.zk.close()
        except Exception:
            pass
    emit(ev="bye")
    sys.stdout.flush()
    os._exit(code)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connect", required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--participants", type=int, default=3)
    p.add_argument("--session-timeout-ms", type=int, default=4000)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    participants = []
    try:
        for i in range(args.participants):
            participants.append(Participant(i, args))
    except Exception as e:
        emit(ev="error", what=f"start: {e!r}")
        quit_all(participants, 1)
    emit(ev="ready")
    for line in sys.stdin:
        command = line.strip()
        if command == "status":
            for part in participants:
                part.status()
            emit(ev="status_end", first=first_node(participants, args.path))
        elif command == "quit":
            break
        else:
            emit(ev="error", what=f"unknown command {command!r}")
    quit_all(participants, 0)


if __name__ == "__main__":
    main()
