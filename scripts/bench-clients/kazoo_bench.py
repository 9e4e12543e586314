#!/usr/bin/env python3
"""Load generator for kazoo (Python), equivalent to examples/bench.rs.

    python kazoo_bench.py --connect 127.0.0.1:2181 --workload get --ops 100000 \
        --concurrency 1000 [--payload 100] [--warmup N]

Same semantics as the Rust bench: root /zk-bench-<pid>-<workload>; get/set/mixed read or write
min(ops, 1000) hot nodes of `payload` bytes; delete removes one pre-created node per op; create
makes root/c<i>; mixed = every 5th op a set, else a get. `--concurrency` requests are kept in
flight on ONE KazooClient through its async API (`*_async` + `rawlink` completion callbacks, a
threading.Semaphore bounding the window). Warm-up ops (default ops/10) and setup/clean-up are not
measured. Latency is from issue to the completion callback. The last output line is one JSON
object; cpu_ms_per_kop is the CPU time of this whole process (all threads) per 1,000 measured ops
(resource.getrusage(RUSAGE_SELF)).

kazoo's threading model (default SequentialThreadingHandler): the calling thread serialises the
request and queues it; one connection thread writes queued requests and reads responses (one of
each per select() round); results are set there and rawlink callbacks run on one completion
worker thread. All three share the GIL.
"""

import argparse
import json
import logging
import os
import resource
import sys
import threading
import time

from kazoo.client import KazooClient

HOT_NODES = 1000


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connect", default=os.environ.get("ZK_CONNECT", ""))
    p.add_argument("--workload", default="get", choices=["create", "get", "set", "delete", "mixed"])
    p.add_argument("--ops", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--payload", type=int, default=100)
    p.add_argument("--threads", type=int, default=1, help="accepted for flag compatibility; ignored")
    p.add_argument("--warmup", type=int, default=None)
    a = p.parse_args()
    if not a.connect:
        p.error("--connect HOST:PORT (or ZK_CONNECT) is required")
    if a.ops < 1 or a.concurrency < 1:
        p.error("--ops and --concurrency must be at least 1")
    if a.payload < 0 or a.payload > 1_000_000:
        p.error("--payload must be 0..1,000,000 bytes")
    if a.warmup is None:
        a.warmup = a.ops // 10
    return a


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def drive(first, n, window, measure, issue):
    """Issues ops first..first+n with `window` in flight; returns sorted latencies in µs."""
    lat = [0] * n if measure else None
    sem = threading.Semaphore(window)
    all_done = threading.Event()
    state = {"left": n, "err": None}
    lock = threading.Lock()
    if n == 0:
        return lat
    last_report = time.monotonic()
    perf = time.perf_counter_ns

    for k in range(n):
        if not sem.acquire(timeout=60):
            raise RuntimeError("no completion for 60 s")
        if state["err"] is not None:
            raise RuntimeError(state["err"])
        started = perf()

        def done(res, k=k, started=started):
            if res.exception is not None:
                if state["err"] is None:
                    state["err"] = repr(res.exception)
            elif lat is not None:
                lat[k] = (perf() - started) // 1000
            sem.release()
            with lock:
                state["left"] -= 1
                if state["left"] == 0:
                    all_done.set()

        issue(first + k).rawlink(done)
        if measure and time.monotonic() - last_report >= 2:
            print(f"  {k + 1} / {n} ops issued", file=sys.stderr)
            last_report = time.monotonic()
    if not all_done.wait(120):
        raise RuntimeError("operations did not complete")
    if state["err"] is not None:
        raise RuntimeError(state["err"])
    if lat is not None:
        lat.sort()
    return lat


def main():
    a = parse_args()
    print(f"kazoo_bench: {vars(a)}", file=sys.stderr)
    logging.basicConfig(level=logging.WARNING)
    zk = KazooClient(hosts=a.connect, timeout=30.0)
    zk.start(timeout=30)
    root = f"/zk-bench-{os.getpid()}-{a.workload}"
    total = a.ops + a.warmup
    zk.create(root, b"")
    if a.workload in ("get", "set", "mixed"):
        setup_n = min(total, HOT_NODES)
    elif a.workload == "delete":
        setup_n = total
    else:
        setup_n = 0
    setup_data = b"x" * a.payload
    drive(0, setup_n, 2000, False, lambda i: zk.create_async(f"{root}/n{i}", setup_data))

    data = b"y" * a.payload
    hot_n = min(HOT_NODES, a.ops)
    w = a.workload
    if w == "create":
        issue = lambda i: zk.create_async(f"{root}/c{i}", data)  # noqa: E731
    elif w == "get":
        issue = lambda i: zk.get_async(f"{root}/n{i % hot_n}")  # noqa: E731
    elif w == "set":
        issue = lambda i: zk.set_async(f"{root}/n{i % hot_n}", data)  # noqa: E731
    elif w == "delete":
        issue = lambda i: zk.delete_async(f"{root}/n{i}")  # noqa: E731
    else:

        def issue(i):
            if i % 5 == 0:
                return zk.set_async(f"{root}/n{i % hot_n}", data)
            return zk.get_async(f"{root}/n{i % hot_n}")

    drive(0, a.warmup, a.concurrency, False, issue)
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    lat = drive(a.warmup, a.ops, a.concurrency, True, issue)
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0

    children = zk.get_children(root)
    drive(0, len(children), 2000, False, lambda i: zk.delete_async(f"{root}/{children[i]}"))
    zk.delete(root)
    zk.stop()
    zk.close()

    def pct(p):
        return lat[min(int(len(lat) * p), len(lat) - 1)]

    print(
        json.dumps(
            {
                "client": "kazoo",
                "workload": a.workload,
                "ops": a.ops,
                "concurrency": a.concurrency,
                "payload": a.payload,
                "threads": 1,
                "elapsed_s": round(elapsed, 3),
                "ops_per_sec": round(a.ops / elapsed),
                "p50_us": pct(0.50),
                "p99_us": pct(0.99),
                "max_us": lat[-1],
                "cpu_ms_per_kop": round(cpu * 1000.0 / (a.ops / 1000.0), 2),
            },
            separators=(",", ":"),
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
