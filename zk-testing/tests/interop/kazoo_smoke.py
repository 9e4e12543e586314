"""A smoke test of kazoo (the Python ZooKeeper client, pinned by scripts/python-deps.sh)
against one ZooKeeper server.

Usage: python kazoo_smoke.py <host:port>

Runs the steps below in order, printing "OK <step>" after each one. The first failure prints
"FAIL <step>: <exception>" and a traceback, then exits with status 1. A missing kazoo exits
with status 3, and a watchdog ends the process with status 2 if the whole run takes longer than
WATCHDOG_SECONDS. Run by zk-testing/tests/interop.rs against both the embedded TestServer and a
real ZooKeeper.
"""

import os
import queue
import socket
import sys
import threading
import time
import traceback
import uuid

try:
    import kazoo
    from kazoo.client import KazooClient, KazooState
    from kazoo.exceptions import (
        BadVersionError,
        LockTimeout,
        NodeExistsError,
        NoAuthError,
        NoNodeError,
        NotEmptyError,
        RolledBackError,
    )
    from kazoo.retry import RetryFailedError
    from kazoo.security import make_digest_acl
except ImportError as e:
    print(f"FAIL import: {e} (run `bash scripts/python-deps.sh`)", flush=True)
    os._exit(3)

WATCHDOG_SECONDS = 45
# How long any single wait (connect, lock, leadership, watch event) may take.
WAIT = 10.0


def fail_after_watchdog():
    print(f"FAIL watchdog: the run took longer than {WATCHDOG_SECONDS} s", flush=True)
    os._exit(2)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def expect(events, wanted):
    try:
        got = events.get(timeout=WAIT)
    except queue.Empty:
        raise AssertionError(f"expected event {wanted!r}, got nothing") from None
    check(got == wanted, f"expected event {wanted!r}, got {got!r}")


def wait_until(condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        check(time.monotonic() < deadline, f"timed out waiting for {what}")
        time.sleep(0.01)


class Proxy:
    """A loopback TCP forwarder whose connections can be cut, to make a client reconnect."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.sockets = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                down, _ = self.listener.accept()
                up = socket.create_connection(self.target, timeout=WAIT)
                up.settimeout(None)
            except OSError:
                return
            with self.lock:
                self.sockets += [down, up]
                self.accepted += 1
            threading.Thread(target=self._pump, args=(down, up), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.sockets = []

    def close(self):
        self.listener.close()
        self.cut()


class Smoke:
    def __init__(self, hosts):
        self.hosts = hosts
        self.root = f"/kazoo-smoke-{uuid.uuid4()}"
        self.first = None
        self.second = None

    def new_client(self, hosts=None):
        client = KazooClient(
            hosts=hosts or self.hosts,
            timeout=10.0,
            connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5},
            command_retry={"max_tries": 3, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5},
        )
        client.start(timeout=WAIT)
        return client

    def connect(self):
        self.first = self.new_client()
        self.second = self.new_client()
        check(self.first.connected and self.second.connected, "not connected")
        check(self.first.client_id[0] != self.second.client_id[0], "the two clients share a session")
        check(self.first.exists("/") is not None, "/ does not exist")

    def crud(self):
        zk = self.first
        path = f"{self.root}/crud/a/b"
        created = zk.create(path, b"one", makepath=True)
        check(created == path, f"create returned {created}")
        data, stat = zk.get(path)
        check(data == b"one" and stat.version == 0 and stat.dataLength == 3, f"get {data!r} {stat}")
        check(stat.ephemeralOwner == 0, f"a persistent node has an owner: {stat}")
        stat = zk.set(path, b"two", version=0)
        check(stat.version == 1, f"set returned version {stat.version}")
        try:
            zk.set(path, b"stale", version=0)
            raise AssertionError("a set with a stale version succeeded")
        except BadVersionError:
            pass
        check(self.second.get(path)[0] == b"two", "the second client reads stale data")
        check(zk.get_children(f"{self.root}/crud/a") == ["b"], "children of a")
        try:
            zk.create(path, b"again")
            raise AssertionError("creating an existing node succeeded")
        except NodeExistsError:
            pass
        try:
            zk.delete(f"{self.root}/crud/a")
            raise AssertionError("deleting a node with children succeeded")
        except NotEmptyError:
            pass
        try:
            zk.get(f"{self.root}/crud/missing")
            raise AssertionError("getting a missing node succeeded")
        except NoNodeError:
            pass
        zk.delete(path, version=1)
        check(zk.exists(path) is None, "deleted node still exists")
        zk.delete(f"{self.root}/crud", recursive=True)
        check(zk.exists(f"{self.root}/crud") is None, "deleted tree still exists")

    def ensure_path(self):
        zk = self.first
        path = f"{self.root}/ensure/x/y/z"
        zk.ensure_path(path)
        check(zk.exists(path) is not None, "ensure_path created nothing")
        zk.ensure_path(path)  # a second time: nothing to do, no error
        check(zk.get(path)[0] == b"", "ensure_path node has data")
        zk.delete(f"{self.root}/ensure", recursive=True)

    def ephemeral_sequence(self):
        parent = f"{self.root}/eph"
        self.first.ensure_path(parent)
        owner = self.new_client()
        sid = owner.client_id[0]
        eph = owner.create(f"{parent}/plain", b"e", ephemeral=True)
        a = owner.create(f"{parent}/n-", b"a", ephemeral=True, sequence=True)
        b = owner.create(f"{parent}/n-", b"b", ephemeral=True, sequence=True)
        p = owner.create(f"{parent}/p-", b"p", sequence=True)
        check(a[-10:].isdigit() and b[-10:].isdigit(), f"sequential names {a} {b}")
        check(int(b[-10:]) == int(a[-10:]) + 1 and int(p[-10:]) == int(b[-10:]) + 1, f"{a} {b} {p}")
        for path in (eph, a, b):
            stat = self.first.exists(path)
            check(stat is not None and stat.ephemeralOwner == sid, f"owner of {path}: {stat}")
        check(self.first.exists(p).ephemeralOwner == 0, "a persistent sequential node has an owner")
        try:
            owner.create(f"{eph}/child", b"")
            raise AssertionError("an ephemeral node got a child")
        except Exception as e:  # NoChildrenForEphemeralsError
            check(type(e).__name__ == "NoChildrenForEphemeralsError", f"child of an ephemeral: {e!r}")
        owner.stop()
        owner.close()
        wait_until(lambda: self.first.get_children(parent) == [p.rsplit("/", 1)[1]],
                   "the ephemerals of a closed session to go")

    def transaction(self):
        zk = self.first
        base = f"{self.root}/tx"
        zk.create(f"{base}/existing", b"old", makepath=True)
        t = zk.transaction()
        t.create(f"{base}/new", b"new")
        t.set_data(f"{base}/existing", b"changed", version=0)
        t.check(f"{base}/existing", 1)
        t.create(f"{base}/seq-", b"s", sequence=True)
        t.delete(f"{base}/new")
        results = t.commit()
        check(len(results) == 5, f"results {results}")
        check(results[0] == f"{base}/new", f"create result {results[0]!r}")
        check(getattr(results[1], "version", None) == 1, f"set_data result {results[1]!r}")
        check(results[2] is True and results[4] is True, f"check/delete results {results}")
        check(isinstance(results[3], str) and results[3][-10:].isdigit(), f"sequential result {results[3]!r}")
        check(zk.get(f"{base}/existing")[0] == b"changed", "set in transaction lost")
        check(zk.exists(f"{base}/new") is None, "node deleted in transaction exists")

        t = zk.transaction()
        t.create(f"{base}/never", b"x")
        t.check(f"{base}/existing", 0)
        results = t.commit()
        check(len(results) == 2, f"failed transaction results {results}")
        check(isinstance(results[0], RolledBackError), f"first result {results[0]!r}")
        check(isinstance(results[1], BadVersionError), f"second result {results[1]!r}")
        check(zk.exists(f"{base}/never") is None, "a failed transaction left a node")
        zk.delete(base, recursive=True)

    def data_watch(self):
        path = f"{self.root}/data-watch"
        events = queue.Queue()

        def on_data(data, stat, event):
            events.put((data, None if stat is None else stat.version, event and event.type))

        self.second.DataWatch(path, on_data)
        expect(events, (None, None, None))
        self.first.create(path, b"v1", makepath=True)
        expect(events, (b"v1", 0, "CREATED"))
        self.first.set(path, b"v2")
        expect(events, (b"v2", 1, "CHANGED"))
        self.first.delete(path)
        expect(events, (None, None, "DELETED"))

    def children_watch(self):
        path = f"{self.root}/children-watch"
        self.first.create(f"{path}/a", b"", makepath=True)
        events = queue.Queue()

        def on_children(children, event):
            events.put((sorted(children), event and event.type))

        self.second.ChildrenWatch(path, on_children, send_event=True)
        expect(events, (["a"], None))
        self.first.create(f"{path}/b", b"")
        expect(events, (["a", "b"], "CHILD"))
        self.first.delete(f"{path}/a")
        expect(events, (["b"], "CHILD"))
        self.first.set(f"{path}/b", b"data does not fire a child watch")
        self.first.create(f"{path}/c", b"")
        expect(events, (["b", "c"], "CHILD"))
        self.first.delete(path, recursive=True)

    def auth_acl(self):
        path = f"{self.root}/acl"
        zk = self.new_client()
        zk.add_auth("digest", "bob:secret")
        acl = make_digest_acl("bob", "secret", all=True)
        zk.create(path, b"secret", acl=[acl], makepath=True)
        acls, _ = zk.get_acls(path)
        check(len(acls) == 1 and acls[0].id.scheme == "digest" and acls[0].id.id == acl.id.id,
              f"acls {acls}")
        check(zk.get(path)[0] == b"secret", "the owner cannot read")
        try:
            self.second.get(path)
            raise AssertionError("an unauthenticated client read a digest-protected node")
        except NoAuthError:
            pass
        zk.delete(path)
        zk.stop()
        zk.close()

    def lock(self):
        path = f"{self.root}/lock"
        one = self.first.Lock(path, "one")
        two = self.second.Lock(path, "two")
        check(one.acquire(timeout=WAIT), "the first client did not get the free lock")
        check(one.is_acquired, "is_acquired is false")
        started = time.monotonic()
        try:
            got = two.acquire(timeout=0.5)
        except LockTimeout:
            got = False
        waited = time.monotonic() - started
        check(not got, "the second client got a held lock")
        check(waited >= 0.4, f"the second acquire gave up after only {waited:.3f} s")
        check(one.contenders() == ["one"], f"contenders {one.contenders()}")

        results = queue.Queue()

        def wait_for_lock():
            try:
                results.put(two.acquire(timeout=WAIT))
            except Exception as e:  # reported below
                results.put(e)

        waiter = threading.Thread(target=wait_for_lock, daemon=True)
        waiter.start()
        wait_until(lambda: len(one.contenders()) == 2, "the second client to queue")
        check(one.contenders() == ["one", "two"], f"contenders {one.contenders()}")
        one.release()
        got = results.get(timeout=WAIT + 1)
        check(got is True, f"the waiting client did not get the released lock: {got!r}")
        waiter.join(WAIT)
        check(two.contenders() == ["two"], f"contenders {two.contenders()}")
        two.release()
        check(self.first.get_children(path) == [], "lock nodes left after release")

    def election(self):
        path = f"{self.root}/election"
        leaders = queue.Queue()
        stop = {"one": threading.Event(), "two": threading.Event()}

        def lead(name):
            leaders.put(name)
            stop[name].wait(WAIT)

        elections = {"one": self.first.Election(path, "one"), "two": self.second.Election(path, "two")}
        threads = [
            threading.Thread(target=e.run, args=(lead, name), daemon=True) for name, e in elections.items()
        ]
        for t in threads:
            t.start()
        leader = leaders.get(timeout=WAIT)
        wait_until(lambda: len(elections["one"].contenders()) == 2, "both contenders")
        check(leaders.empty(), "two leaders at once")
        check(elections["one"].contenders()[0] == leader, f"contenders {elections['one'].contenders()}")
        follower = "two" if leader == "one" else "one"
        stop[leader].set()
        expect(leaders, follower)
        stop[follower].set()
        for t in threads:
            t.join(WAIT)
            check(not t.is_alive(), "an election thread did not end")

    def counter(self):
        path = f"{self.root}/counter"
        counters = [self.first.Counter(path), self.second.Counter(path)]
        errors = queue.Queue()

        def add(counter):
            # Two threads contend for one version: each lost race costs one of the
            # client's 3 command retries (kazoo retries a BadVersion by raising
            # ForceRetryError), so a loaded machine can run out of them. Such an increment
            # was not applied (the conditional write failed), so trying it again is exact.
            try:
                for _ in range(20):
                    for attempt in range(50):
                        try:
                            counter += 1
                            break
                        except RetryFailedError:
                            if attempt == 49:
                                raise
            except Exception as e:  # reported below
                errors.put(e)

        threads = [threading.Thread(target=add, args=(c,), daemon=True) for c in counters]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
            check(not t.is_alive(), "a counter thread did not end")
        check(errors.empty(), f"counter errors: {list(errors.queue)}")
        check(counters[0].value == 40 and counters[1].value == 40, f"counter {counters[0].value}")
        counters[1] -= 5
        check(counters[0].value == 35, f"counter after -5: {counters[0].value}")

    def reconnect(self):
        """Cuts the connection under a client: it reconnects to the same session, keeps its
        ephemeral node, and its DataWatch (which kazoo re-arms after the reconnect) fires."""
        host, port = self.hosts.rsplit(":", 1)
        proxy = Proxy((host, int(port)))
        zk = self.new_client(proxy.addr)
        states = queue.Queue()
        zk.add_listener(states.put)
        sid = zk.client_id[0]
        path = f"{self.root}/reconnect"
        zk.create(f"{path}/eph", b"mine", ephemeral=True, makepath=True)
        events = queue.Queue()
        zk.DataWatch(f"{path}/watched", lambda data, stat: events.put(data))
        expect(events, None)

        proxy.cut()
        expect(states, KazooState.SUSPENDED)
        expect(states, KazooState.CONNECTED)
        check(proxy.accepted == 2, f"{proxy.accepted} connections through the proxy")
        check(zk.client_id[0] == sid, "the client got a new session")
        stat = self.first.exists(f"{path}/eph")
        check(stat is not None and stat.ephemeralOwner == sid, f"ephemeral after reconnect: {stat}")
        check(zk.get(f"{path}/eph")[0] == b"mine", "the reconnected client cannot read")
        self.first.create(f"{path}/watched", b"after")
        expect(events, b"after")

        zk.stop()
        zk.close()
        proxy.close()
        wait_until(lambda: self.first.exists(f"{path}/eph") is None, "the ephemeral to go with its session")
        self.first.delete(path, recursive=True)

    def close(self):
        self.first.delete(self.root, recursive=True)
        check(self.first.exists(self.root) is None, "root still exists")
        for zk in (self.first, self.second):
            zk.stop()
            zk.close()


def main():
    if len(sys.argv) != 2:
        print("usage: python kazoo_smoke.py <host:port>", file=sys.stderr)
        os._exit(64)
    watchdog = threading.Timer(WATCHDOG_SECONDS, fail_after_watchdog)
    watchdog.daemon = True
    watchdog.start()
    print(f"kazoo {getattr(kazoo, '__version__', '?')}", file=sys.stderr, flush=True)

    smoke = Smoke(sys.argv[1])
    steps = [
        ("connect", smoke.connect),
        ("crud", smoke.crud),
        ("ensure_path", smoke.ensure_path),
        ("ephemeral_sequence", smoke.ephemeral_sequence),
        ("transaction", smoke.transaction),
        ("data_watch", smoke.data_watch),
        ("children_watch", smoke.children_watch),
        ("auth_acl", smoke.auth_acl),
        ("lock", smoke.lock),
        ("election", smoke.election),
        ("counter", smoke.counter),
        ("reconnect", smoke.reconnect),
        ("close", smoke.close),
    ]
    for name, step in steps:
        try:
            step()
        except BaseException as e:
            print(f"FAIL {name}: {e!r}", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
            os._exit(1)
        print(f"OK {name}", flush=True)
    # kazoo's threads are daemons, but do not wait for any straggler.
    os._exit(0)


if __name__ == "__main__":
    main()
