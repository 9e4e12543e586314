// A smoke test of Apache Curator (Debian's libcurator-*-java 5.4) against one ZooKeeper server.
//
// Usage: java CuratorSmoke <connect string>
//
// Runs the steps below in order, printing "OK <step>" after each one. The first failure prints
// "FAIL <step>: <exception>" and a stack trace, then exits with status 1. A watchdog ends the
// JVM with status 2 if the whole run takes longer than WATCHDOG_SECONDS. Compiled and run by
// zk-testing/tests/interop.rs against both the embedded TestServer and a real ZooKeeper.

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.NodeCache;
import org.apache.curator.framework.recipes.cache.PathChildrenCache;
import org.apache.curator.framework.recipes.cache.PathChildrenCacheEvent;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.data.Stat;

@SuppressWarnings("deprecation") // NodeCache and PathChildrenCache: deprecated, still shipped
public final class CuratorSmoke {
    private static final int WATCHDOG_SECONDS = 45;
    /** How long any single wait (connect, lock, leadership, cache event) may take. */
    private static final long WAIT_MS = 10_000;

    private final String connect;
    private final String root = "/curator-smoke-" + UUID.randomUUID();
    private CuratorFramework first;
    private CuratorFramework second;

    private CuratorSmoke(String connect) {
        this.connect = connect;
    }

    private interface Step {
        void run() throws Exception;
    }

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: java CuratorSmoke <connect string>");
            System.exit(64);
        }
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(WATCHDOG_SECONDS * 1000L);
            } catch (InterruptedException e) {
                return;
            }
            System.out.println("FAIL watchdog: the run took longer than " + WATCHDOG_SECONDS + " s");
            System.out.flush();
            Runtime.getRuntime().halt(2);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        CuratorSmoke smoke = new CuratorSmoke(args[0]);
        smoke.step("connect", smoke::connect);
        smoke.step("crud", smoke::crud);
        smoke.step("ephemeral_sequential", smoke::ephemeralSequential);
        smoke.step("transaction", smoke::transaction);
        smoke.step("mutex", smoke::mutex);
        smoke.step("leader_latch", smoke::leaderLatch);
        smoke.step("node_cache", smoke::nodeCache);
        smoke.step("path_children_cache", smoke::pathChildrenCache);
        smoke.step("curator_cache", smoke::curatorCache);
        smoke.step("reconnect", smoke::reconnect);
        smoke.step("close", smoke::close);
        System.out.flush();
        // Curator and ZooKeeper leave non-daemon threads behind on some paths; do not wait for them.
        Runtime.getRuntime().halt(0);
    }

    private void step(String name, Step step) {
        try {
            step.run();
        } catch (Throwable e) {
            System.out.println("FAIL " + name + ": " + e);
            e.printStackTrace(System.out);
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }
        System.out.println("OK " + name);
        System.out.flush();
    }

    private static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String text(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    private CuratorFramework newClient() throws InterruptedException {
        return newClient(connect);
    }

    private CuratorFramework newClient(String connect) throws InterruptedException {
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(10_000)
                .connectionTimeoutMs(5_000)
                .retryPolicy(new ExponentialBackoffRetry(100, 3))
                .build();
        client.start();
        check(client.blockUntilConnected((int) WAIT_MS, TimeUnit.MILLISECONDS),
                "not connected to " + connect + " within " + WAIT_MS + " ms");
        return client;
    }

    private long sessionId(CuratorFramework client) throws Exception {
        return client.getZookeeperClient().getZooKeeper().getSessionId();
    }

    // connect: two clients (the recipes below need two), each with its own session.
    private void connect() throws Exception {
        first = newClient();
        second = newClient();
        check(sessionId(first) != sessionId(second), "the two clients share a session");
        check(first.checkExists().forPath("/") != null, "/ does not exist");
    }

    // crud: create with creatingParentsIfNeeded, get, set (versioned), stat, delete.
    private void crud() throws Exception {
        String path = root + "/crud/a/b";
        String created = first.create().creatingParentsIfNeeded().forPath(path, bytes("one"));
        check(created.equals(path), "create returned " + created);
        Stat stat = new Stat();
        byte[] data = first.getData().storingStatIn(stat).forPath(path);
        check("one".equals(text(data)), "get returned " + text(data));
        check(stat.getVersion() == 0 && stat.getDataLength() == 3, "fresh stat " + stat);
        check(stat.getEphemeralOwner() == 0, "a persistent node has an owner: " + stat);

        Stat set = first.setData().withVersion(0).forPath(path, bytes("two"));
        check(set.getVersion() == 1, "set returned version " + set.getVersion());
        try {
            first.setData().withVersion(0).forPath(path, bytes("stale"));
            throw new AssertionError("a set with a stale version succeeded");
        } catch (KeeperException.BadVersionException expected) {
            // as it should be
        }
        check("two".equals(text(second.getData().forPath(path))), "the second client reads stale data");
        List<String> children = first.getChildren().forPath(root + "/crud/a");
        check(children.equals(List.of("b")), "children of a: " + children);

        try {
            first.create().forPath(path, bytes("again"));
            throw new AssertionError("creating an existing node succeeded");
        } catch (KeeperException.NodeExistsException expected) {
            // as it should be
        }
        try {
            first.delete().forPath(root + "/crud/a");
            throw new AssertionError("deleting a node with children succeeded");
        } catch (KeeperException.NotEmptyException expected) {
            // as it should be
        }
        first.delete().withVersion(1).forPath(path);
        check(first.checkExists().forPath(path) == null, "deleted node still exists");
        first.delete().deletingChildrenIfNeeded().forPath(root + "/crud");
        check(first.checkExists().forPath(root + "/crud") == null, "deleted tree still exists");
    }

    // ephemeral_sequential: sequence suffixes, the owner session, protected mode, and that the
    // nodes go away with the session.
    private void ephemeralSequential() throws Exception {
        String parent = root + "/eph";
        CuratorFramework owner = newClient();
        String a = owner.create().creatingParentContainersIfNeeded()
                .withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(parent + "/n-", bytes("a"));
        String b = owner.create().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(parent + "/n-", bytes("b"));
        check(a.matches(".*/n-\\d{10}"), "sequential name " + a);
        long sa = Long.parseLong(a.substring(a.length() - 10));
        long sb = Long.parseLong(b.substring(b.length() - 10));
        check(sb == sa + 1, "sequence numbers " + sa + " then " + sb);
        Stat stat = first.checkExists().forPath(a);
        check(stat != null && stat.getEphemeralOwner() == sessionId(owner),
                "ephemeralOwner " + (stat == null ? "(no node)" : Long.toHexString(stat.getEphemeralOwner())));
        String prot = owner.create().withProtection().withMode(CreateMode.EPHEMERAL_SEQUENTIAL)
                .forPath(parent + "/prot-", bytes("p"));
        check(prot.contains("_c_") && prot.matches(".*prot-\\d{10}"), "protected name " + prot);
        check(first.getChildren().forPath(parent).size() == 3, "three ephemerals expected");

        owner.close();
        // The parent is a container (creatingParentContainersIfNeeded): once empty, the server
        // may reap it at any moment.
        long deadline = System.currentTimeMillis() + WAIT_MS;
        for (Stat p = first.checkExists().forPath(parent); p != null && p.getNumChildren() > 0;
                p = first.checkExists().forPath(parent)) {
            check(System.currentTimeMillis() < deadline, "ephemerals outlived their closed session");
            Thread.sleep(20);
        }
    }

    // transaction: a committed multi (create, set, check, delete) and a failing one that
    // changes nothing.
    private void transaction() throws Exception {
        String base = root + "/tx";
        first.create().creatingParentsIfNeeded().forPath(base + "/existing", bytes("old"));
        List<CuratorOp> ops = List.of(
                first.transactionOp().create().forPath(base + "/new", bytes("new")),
                first.transactionOp().setData().withVersion(0).forPath(base + "/existing", bytes("changed")),
                first.transactionOp().check().withVersion(1).forPath(base + "/existing"),
                first.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                        .forPath(base + "/seq-", bytes("s")),
                first.transactionOp().delete().forPath(base + "/new"));
        List<CuratorTransactionResult> results = first.transaction().forOperations(ops);
        check(results.size() == 5, "results " + results.size());
        List<OperationType> types = new ArrayList<>();
        for (CuratorTransactionResult r : results) {
            types.add(r.getType());
            check(r.getError() == 0, "op " + r.getType() + " " + r.getForPath() + " error " + r.getError());
        }
        check(types.equals(Arrays.asList(OperationType.CREATE, OperationType.SET_DATA, OperationType.CHECK,
                OperationType.CREATE, OperationType.DELETE)), "result types " + types);
        check(results.get(1).getResultStat() != null && results.get(1).getResultStat().getVersion() == 1,
                "setData result stat " + results.get(1).getResultStat());
        String seq = results.get(3).getResultPath();
        check(seq != null && seq.matches(".*/seq-\\d{10}"), "sequential result path " + seq);
        check("changed".equals(text(first.getData().forPath(base + "/existing"))), "set in transaction lost");
        check(first.checkExists().forPath(base + "/new") == null, "node deleted in transaction exists");

        List<CuratorOp> failing = List.of(
                first.transactionOp().create().forPath(base + "/never", bytes("x")),
                first.transactionOp().check().withVersion(0).forPath(base + "/existing"));
        try {
            first.transaction().forOperations(failing);
            throw new AssertionError("a transaction with a stale check succeeded");
        } catch (KeeperException e) {
            check(e.code() == KeeperException.Code.BADVERSION, "failed transaction: " + e);
        }
        check(first.checkExists().forPath(base + "/never") == null, "a failed transaction left a node");
        first.delete().deletingChildrenIfNeeded().forPath(base);
    }

    // mutex: InterProcessMutex on two clients; the second times out while the first holds it
    // and gets it once the first releases.
    private void mutex() throws Exception {
        String path = root + "/mutex";
        InterProcessMutex one = new InterProcessMutex(first, path);
        InterProcessMutex two = new InterProcessMutex(second, path);
        check(one.acquire(WAIT_MS, TimeUnit.MILLISECONDS), "the first client did not get the free lock");
        check(one.isAcquiredInThisProcess(), "isAcquiredInThisProcess is false");
        long before = System.nanoTime();
        check(!two.acquire(500, TimeUnit.MILLISECONDS), "the second client got a held lock");
        long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - before);
        check(waitedMs >= 400, "the second acquire gave up after only " + waitedMs + " ms");
        check(first.getChildren().forPath(path).size() == 1, "a timed-out waiter left its node behind");

        // The second client waits on another thread; releasing the first lets it in. A mutex
        // is released by the thread that acquired it, so the waiter also releases it.
        BlockingQueue<Object> got = new LinkedBlockingQueue<>();
        CountDownLatch releaseNow = new CountDownLatch(1);
        Thread waiter = new Thread(() -> {
            try {
                boolean acquired = two.acquire(WAIT_MS, TimeUnit.MILLISECONDS);
                got.add(acquired);
                if (acquired && releaseNow.await(WAIT_MS, TimeUnit.MILLISECONDS)) {
                    two.release();
                    got.add("released");
                }
            } catch (Throwable e) {
                got.add(e);
            }
        }, "mutex-waiter");
        waiter.setDaemon(true);
        waiter.start();
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (first.getChildren().forPath(path).size() < 2) {
            check(System.currentTimeMillis() < deadline, "the waiter never queued");
            Thread.sleep(10);
        }
        one.release();
        Object result = got.poll(WAIT_MS + 1000, TimeUnit.MILLISECONDS);
        if (result instanceof Throwable) {
            throw new AssertionError("the waiting acquire failed", (Throwable) result);
        }
        check(Boolean.TRUE.equals(result), "the waiting client did not get the released lock: " + result);
        check(first.getChildren().forPath(path).size() == 1, "lock nodes while the second holds it");
        releaseNow.countDown();
        result = got.poll(WAIT_MS + 1000, TimeUnit.MILLISECONDS);
        if (result instanceof Throwable) {
            throw new AssertionError("the second release failed", (Throwable) result);
        }
        check("released".equals(result), "the second client did not release: " + result);
        // Curator's lock parent is a container: once empty, the server may already have reaped it.
        List<String> left;
        try {
            left = first.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            left = List.of();
        }
        check(left.isEmpty(), "lock nodes left after release: " + left);
    }

    // leader_latch: two participants, exactly one leader; when it closes, the other leads.
    private void leaderLatch() throws Exception {
        String path = root + "/leader";
        LeaderLatch one = new LeaderLatch(first, path, "one");
        LeaderLatch two = new LeaderLatch(second, path, "two");
        one.start();
        two.start();
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (!one.hasLeadership() && !two.hasLeadership()) {
            check(System.currentTimeMillis() < deadline, "no leader within " + WAIT_MS + " ms");
            Thread.sleep(10);
        }
        // Both must have registered before the leader's identity is compared.
        while (one.getParticipants().size() < 2) {
            check(System.currentTimeMillis() < deadline, "participants " + one.getParticipants());
            Thread.sleep(10);
        }
        check(one.hasLeadership() != two.hasLeadership(), "leadership: one=" + one.hasLeadership()
                + " two=" + two.hasLeadership());
        LeaderLatch leader = one.hasLeadership() ? one : two;
        LeaderLatch follower = leader == one ? two : one;
        check(one.getLeader().getId().equals(leader.getId()), "one sees leader " + one.getLeader());
        check(two.getLeader().getId().equals(leader.getId()), "two sees leader " + two.getLeader());

        leader.close();
        check(follower.await(WAIT_MS, TimeUnit.MILLISECONDS), "the follower did not take over");
        check(follower.getLeader().getId().equals(follower.getId()), "leader after close " + follower.getLeader());
        follower.close();
    }

    // node_cache: a NodeCache sees the node created, changed and deleted.
    private void nodeCache() throws Exception {
        String path = root + "/node-cache";
        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        NodeCache cache = new NodeCache(second, path);
        cache.getListenable().addListener(() -> {
            ChildData current = cache.getCurrentData();
            seen.add(current == null ? "<deleted>" : text(current.getData()));
        });
        cache.start(true);
        check(cache.getCurrentData() == null, "cache of a missing node has data");
        first.create().creatingParentsIfNeeded().forPath(path, bytes("v1"));
        expect(seen, "v1");
        first.setData().forPath(path, bytes("v2"));
        expect(seen, "v2");
        first.delete().forPath(path);
        expect(seen, "<deleted>");
        cache.close();
    }

    // path_children_cache: a PathChildrenCache sees a child added, updated and removed.
    private void pathChildrenCache() throws Exception {
        String path = root + "/children-cache";
        first.create().creatingParentsIfNeeded().forPath(path + "/initial", bytes("i"));
        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        PathChildrenCache cache = new PathChildrenCache(second, path, true);
        cache.getListenable().addListener((client, event) -> {
            ChildData d = event.getData();
            seen.add(event.getType() + (d == null ? "" : " " + d.getPath().substring(path.length())
                    + "=" + text(d.getData())));
        });
        cache.start(PathChildrenCache.StartMode.BUILD_INITIAL_CACHE);
        check(cache.getCurrentData().size() == 1, "initial cache " + cache.getCurrentData());
        first.create().forPath(path + "/c", bytes("1"));
        expect(seen, PathChildrenCacheEvent.Type.CHILD_ADDED + " /c=1");
        first.setData().forPath(path + "/c", bytes("2"));
        expect(seen, PathChildrenCacheEvent.Type.CHILD_UPDATED + " /c=2");
        first.delete().forPath(path + "/c");
        expect(seen, PathChildrenCacheEvent.Type.CHILD_REMOVED + " /c=2");
        cache.close();
    }

    // curator_cache: CuratorCache (persistent recursive watch, addWatch) sees a nested change.
    private void curatorCache() throws Exception {
        String path = root + "/curator-cache";
        first.create().creatingParentsIfNeeded().forPath(path, bytes("top"));
        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        CuratorCache cache = CuratorCache.build(second, path);
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(n -> seen.add("create " + n.getPath().substring(path.length())))
                .forChanges((old, n) -> seen.add("change " + n.getPath().substring(path.length())
                        + "=" + text(n.getData())))
                .forDeletes(n -> seen.add("delete " + n.getPath().substring(path.length())))
                .build());
        cache.start();
        expect(seen, "create ");
        first.create().creatingParentsIfNeeded().forPath(path + "/a/b", bytes("deep"));
        expect(seen, "create /a");
        expect(seen, "create /a/b");
        first.setData().forPath(path + "/a/b", bytes("deeper"));
        expect(seen, "change /a/b=deeper");
        first.delete().forPath(path + "/a/b");
        expect(seen, "delete /a/b");
        cache.close();
    }

    // reconnect: the connection under a client is cut; it reconnects to the same session, keeps
    // its ephemeral node, and the ZooKeeper client re-registers its one-shot and persistent
    // watches (SetWatches / SetWatches2), which then fire.
    private void reconnect() throws Exception {
        String path = root + "/reconnect";
        String watched = path + "/watched";
        first.create().creatingParentsIfNeeded().forPath(watched, bytes("before"));
        int colon = connect.lastIndexOf(':');
        try (Proxy proxy = new Proxy(connect.substring(0, colon), Integer.parseInt(connect.substring(colon + 1)))) {
            CuratorFramework client = newClient(proxy.address());
            BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
            client.getConnectionStateListenable().addListener((c, state) -> states.add(state));
            long sid = sessionId(client);
            client.create().withMode(CreateMode.EPHEMERAL).forPath(path + "/eph", bytes("mine"));

            // The ZooKeeper client also hands connection events (type None) to every watcher.
            BlockingQueue<String> seen = new LinkedBlockingQueue<>();
            Watcher data = e -> {
                if (e.getType() != Watcher.Event.EventType.None) {
                    seen.add("data " + e.getType() + " " + e.getPath().substring(path.length()));
                }
            };
            Watcher children = e -> {
                if (e.getType() != Watcher.Event.EventType.None) {
                    seen.add("children " + e.getType() + " " + e.getPath().substring(path.length()));
                }
            };
            Watcher recursive = e -> {
                if (e.getType() != Watcher.Event.EventType.None) {
                    seen.add("recursive " + e.getType() + " " + e.getPath().substring(path.length()));
                }
            };
            client.getData().usingWatcher(data).forPath(watched);
            client.getChildren().usingWatcher(children).forPath(watched);
            client.watchers().add().withMode(AddWatchMode.PERSISTENT_RECURSIVE).usingWatcher(recursive).forPath(path);

            proxy.cut();
            // The listener may still get the initial CONNECTED (delivered asynchronously).
            ConnectionState state = states.poll(WAIT_MS, TimeUnit.MILLISECONDS);
            if (state == ConnectionState.CONNECTED) {
                state = states.poll(WAIT_MS, TimeUnit.MILLISECONDS);
            }
            check(state == ConnectionState.SUSPENDED, "expected connection state SUSPENDED, got " + state);
            expectState(states, ConnectionState.RECONNECTED);
            check(proxy.accepted() == 2, proxy.accepted() + " connections through the proxy");
            check(sessionId(client) == sid, "the client got a new session");
            // A read on the reconnected client sits behind its watch re-registration (sent first
            // on the new connection): only after it are the changes below sure to be watched.
            // A persistent watch re-registered after a change does not catch up on it.
            client.checkExists().forPath(watched);
            Stat eph = first.checkExists().forPath(path + "/eph");
            check(eph != null && eph.getEphemeralOwner() == sid, "ephemeral after reconnect: " + eph);

            first.setData().forPath(watched, bytes("after"));
            first.create().forPath(watched + "/kid", bytes("k"));
            List<String> events = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                String event = seen.poll(WAIT_MS, TimeUnit.MILLISECONDS);
                check(event != null, "only these watch events after the reconnect: " + events);
                events.add(event);
            }
            // One-shot watches fire once. The Java client also hands the NodeChildrenChanged
            // event to the recursive watcher. A sync round trip later, nothing else may arrive.
            client.sync().forPath(path);
            client.getData().forPath(watched);
            String extra = seen.poll(200, TimeUnit.MILLISECONDS);
            check(extra == null, "an extra watch event " + extra + " after " + events);
            Collections.sort(events);
            List<String> expected = List.of(
                    "children NodeChildrenChanged /watched",
                    "data NodeDataChanged /watched",
                    "recursive NodeChildrenChanged /watched",
                    "recursive NodeCreated /watched/kid",
                    "recursive NodeDataChanged /watched");
            check(events.equals(expected), "watch events after the reconnect: " + events);
            client.close();
        }
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (first.checkExists().forPath(path + "/eph") != null) {
            check(System.currentTimeMillis() < deadline, "the ephemeral outlived its closed session");
            Thread.sleep(10);
        }
        first.delete().deletingChildrenIfNeeded().forPath(path);
    }

    private static void expectState(BlockingQueue<ConnectionState> states, ConnectionState wanted)
            throws InterruptedException {
        ConnectionState got = states.poll(WAIT_MS, TimeUnit.MILLISECONDS);
        check(got == wanted, "expected connection state " + wanted + ", got " + got);
    }

    /** A loopback TCP forwarder whose connections can be cut, to make a client reconnect. */
    private static final class Proxy implements AutoCloseable {
        private final String host;
        private final int port;
        private final ServerSocket listener;
        private final List<Socket> sockets = new ArrayList<>();
        private int accepted;

        Proxy(String host, int port) throws IOException {
            this.host = host;
            this.port = port;
            listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread acceptor = new Thread(this::acceptLoop, "proxy-accept");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        String address() {
            return listener.getInetAddress().getHostAddress() + ":" + listener.getLocalPort();
        }

        synchronized int accepted() {
            return accepted;
        }

        private void acceptLoop() {
            while (true) {
                try {
                    Socket down = listener.accept();
                    Socket up = new Socket(host, port);
                    synchronized (this) {
                        sockets.add(down);
                        sockets.add(up);
                        accepted++;
                    }
                    pump(down, up);
                    pump(up, down);
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        private static void pump(Socket from, Socket to) {
            Thread t = new Thread(() -> {
                byte[] buffer = new byte[65536];
                try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                    for (int n; (n = in.read(buffer)) > 0; ) {
                        out.write(buffer, 0, n);
                        out.flush();
                    }
                } catch (IOException e) {
                    // cut or closed
                }
                closeQuietly(from);
                closeQuietly(to);
            }, "proxy-pump");
            t.setDaemon(true);
            t.start();
        }

        private static void closeQuietly(Socket s) {
            try {
                s.close();
            } catch (IOException e) {
                // already closed
            }
        }

        synchronized void cut() {
            for (Socket s : sockets) {
                closeQuietly(s);
            }
            sockets.clear();
        }

        @Override
        public void close() throws IOException {
            listener.close();
            cut();
        }
    }

    private static void expect(BlockingQueue<String> seen, String event) throws InterruptedException {
        String got = seen.poll(WAIT_MS, TimeUnit.MILLISECONDS);
        check(event.equals(got), "expected event \"" + event + "\", got " + (got == null ? "nothing" : "\"" + got + "\""));
    }

    // close: remove everything this run created, close both clients.
    private void close() throws Exception {
        first.delete().deletingChildrenIfNeeded().forPath(root);
        check(first.checkExists().forPath(root) == null, "root still exists");
        first.close();
        second.close();
    }
}
