// Load generator for the Apache ZooKeeper Java client, equivalent to examples/bench.rs.
//
//   javac -cp /usr/share/java/zookeeper.jar -d DIR ZkBench.java
//   java -cp /usr/share/java/zookeeper.jar:DIR ZkBench --connect 127.0.0.1:2181 --workload get \
//       --ops 100000 --concurrency 1000 [--payload 100] [--warmup N]
//
// Same semantics as the Rust bench: root /zk-bench-<pid>-<workload>; get/set/mixed read or write
// min(ops, 1000) hot nodes of `payload` bytes; delete removes one pre-created node per op; create
// makes root/c<i>; mixed = every 5th op a set, else a get. `--concurrency` requests are kept in
// flight on ONE client (async callbacks + a Semaphore). Warm-up ops (default ops/10) and
// setup/clean-up are not measured. Latency is from issue to the completion callback. The last
// output line is one JSON object; cpu_ms_per_kop is the CPU time of this whole JVM per 1,000
// measured ops (com.sun.management.OperatingSystemMXBean.getProcessCpuTime()).

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public final class ZkBench {
    static final int HOT_NODES = 1000;

    static String connect = System.getenv().getOrDefault("ZK_CONNECT", "");
    static String workload = "get";
    static int ops = 10_000;
    static int concurrency = 1;
    static int payload = 100;
    static int warmup = -1;

    static ZooKeeper zk;
    static String root;

    static void usage(String msg) {
        if (msg != null) System.err.println("ZkBench: " + msg);
        System.err.println("usage: ZkBench --connect HOST:PORT --workload create|get|set|delete|mixed "
                + "[--ops N] [--concurrency K] [--payload BYTES] [--warmup N]");
        System.exit(2);
    }

    static int num(String flag, String v) {
        try {
            int n = Integer.parseInt(v);
            if (n < 0) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            usage(flag + ": not a number: " + v);
            return 0;
        }
    }

    static void parseArgs(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String f = args[i];
            if (f.equals("-h") || f.equals("--help")) usage(null);
            if (i + 1 >= args.length) usage(f + " needs a value");
            String v = args[++i];
            switch (f) {
                case "--connect": connect = v; break;
                case "--workload": workload = v; break;
                case "--ops": ops = num(f, v); break;
                case "--concurrency": concurrency = num(f, v); break;
                case "--payload": payload = num(f, v); break;
                case "--warmup": warmup = num(f, v); break;
                case "--threads": num(f, v); break; // accepted for flag compatibility; ignored
                default: usage("unknown flag " + f);
            }
        }
        if (connect.isEmpty()) usage("--connect HOST:PORT (or ZK_CONNECT) is required");
        if (!List.of("create", "get", "set", "delete", "mixed").contains(workload))
            usage("unknown workload " + workload);
        if (ops == 0 || concurrency == 0) usage("--ops and --concurrency must be at least 1");
        if (payload > 1_000_000) usage("--payload must be at most 1,000,000 bytes");
        if (warmup < 0) warmup = ops / 10;
    }

    static double cpuSeconds() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime() / 1e9;
    }

    /** Runs `n` async calls (index 0..n) with at most `window` in flight; fails on the first error. */
    interface Issuer {
        void issue(int i, Done done);
    }

    interface Done {
        void done(int rc, String path);
    }

    /**
     * Issues ops first..first+n with `window` in flight; returns per-op latencies in µs (or null
     * when latencies are not wanted).
     */
    static long[] drive(int first, int n, int window, boolean measure, Issuer issuer) throws Exception {
        final long[] lat = measure ? new long[n] : null;
        final Semaphore sem = new Semaphore(window);
        final CountDownLatch all = new CountDownLatch(n);
        final AtomicReference<String> err = new AtomicReference<>();
        long lastReport = System.nanoTime();
        for (int k = 0; k < n; k++) {
            if (!sem.tryAcquire(60, TimeUnit.SECONDS)) throw new RuntimeException("no completion for 60 s");
            if (err.get() != null) throw new RuntimeException(err.get());
            final int slot = k;
            final long started = System.nanoTime();
            issuer.issue(first + k, (rc, path) -> {
                if (rc != KeeperException.Code.OK.intValue()) {
                    err.compareAndSet(null, path + ": " + KeeperException.Code.get(rc));
                } else if (lat != null) {
                    lat[slot] = (System.nanoTime() - started) / 1000;
                }
                sem.release();
                all.countDown();
            });
            if (measure && System.nanoTime() - lastReport >= 2_000_000_000L) {
                System.err.println("  " + (k + 1 - (window - sem.availablePermits())) + " / " + n + " ops");
                lastReport = System.nanoTime();
            }
        }
        if (!all.await(120, TimeUnit.SECONDS)) throw new RuntimeException("operations did not complete");
        if (err.get() != null) throw new RuntimeException(err.get());
        if (lat != null) Arrays.sort(lat);
        return lat;
    }

    static void create(String path, byte[] data, Done d) {
        zk.create(path, data, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT,
                (AsyncCallback.StringCallback) (rc, p, ctx, name) -> d.done(rc, p), null);
    }

    static void getData(String path, Done d) {
        zk.getData(path, false, (AsyncCallback.DataCallback) (rc, p, ctx, data, stat) -> d.done(rc, p), null);
    }

    static void setData(String path, byte[] data, Done d) {
        zk.setData(path, data, -1, (AsyncCallback.StatCallback) (rc, p, ctx, stat) -> d.done(rc, p), null);
    }

    static void delete(String path, Done d) {
        zk.delete(path, -1, (AsyncCallback.VoidCallback) (rc, p, ctx) -> d.done(rc, p), null);
    }

    public static void main(String[] args) throws Exception {
        parseArgs(args);
        System.err.println("ZkBench: connect=" + connect + " workload=" + workload + " ops=" + ops
                + " concurrency=" + concurrency + " payload=" + payload + " warmup=" + warmup);
        CountDownLatch connected = new CountDownLatch(1);
        zk = new ZooKeeper(connect, 30_000, ev -> {
            if (ev.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
        });
        if (!connected.await(30, TimeUnit.SECONDS)) throw new RuntimeException("could not connect to " + connect);

        long pid = ProcessHandle.current().pid();
        root = "/zk-bench-" + pid + "-" + workload;
        final int total = ops + warmup;
        // Setup (unmeasured): root + the nodes to read/write/delete, pipelined 2000 at a time.
        zk.create(root, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        int setupN;
        switch (workload) {
            case "get": case "set": case "mixed": setupN = Math.min(total, HOT_NODES); break;
            case "delete": setupN = total; break;
            default: setupN = 0;
        }
        final byte[] setupData = new byte[payload];
        Arrays.fill(setupData, (byte) 'x');
        drive(0, setupN, 2000, false, (i, d) -> create(root + "/n" + i, setupData, d));

        final byte[] data = new byte[payload];
        Arrays.fill(data, (byte) 'y');
        final int hotN = Math.min(HOT_NODES, ops);
        Issuer issuer;
        switch (workload) {
            case "create": issuer = (i, d) -> create(root + "/c" + i, data, d); break;
            case "get": issuer = (i, d) -> getData(root + "/n" + (i % hotN), d); break;
            case "set": issuer = (i, d) -> setData(root + "/n" + (i % hotN), data, d); break;
            case "delete": issuer = (i, d) -> delete(root + "/n" + i, d); break;
            default:
                issuer = (i, d) -> {
                    if (i % 5 == 0) setData(root + "/n" + (i % hotN), data, d);
                    else getData(root + "/n" + (i % hotN), d);
                };
        }
        drive(0, warmup, concurrency, false, issuer);
        double cpu0 = cpuSeconds();
        long t0 = System.nanoTime();
        long[] lat = drive(warmup, ops, concurrency, true, issuer);
        double elapsed = (System.nanoTime() - t0) / 1e9;
        double cpu = cpuSeconds() - cpu0;

        // Clean-up (unmeasured).
        List<String> children = zk.getChildren(root, false);
        drive(0, children.size(), 2000, false, (i, d) -> delete(root + "/" + children.get(i), d));
        zk.delete(root, -1);
        zk.close();

        java.util.function.IntFunction<Long> pct = p -> lat[Math.min((int) (lat.length * (p / 100.0)), lat.length - 1)];
        System.out.println(String.format(java.util.Locale.ROOT,
                "{\"client\":\"java\",\"workload\":\"%s\",\"ops\":%d,\"concurrency\":%d,\"payload\":%d,\"threads\":1,"
                        + "\"elapsed_s\":%.3f,\"ops_per_sec\":%.0f,\"p50_us\":%d,\"p99_us\":%d,\"max_us\":%d,"
                        + "\"cpu_ms_per_kop\":%.2f}",
                workload, ops, concurrency, payload, elapsed, ops / elapsed, pct.apply(50), pct.apply(99),
                lat[lat.length - 1], cpu * 1000.0 / (ops / 1000.0)));
        System.exit(0);
    }
}
