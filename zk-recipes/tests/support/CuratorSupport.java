// What every Curator test program of zk-recipes shares: line output, a watchdog that halts a
// run that hangs, a connected client, and the ready/go handshake with the Rust side. Compiled with each program by
// `support::curator_program` (tests/support/mod.rs).

import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;

final class CuratorSupport {
    private CuratorSupport() {}

    /** Prints one line and flushes it: the Rust side reads the output line by line. */
    static synchronized void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    /** Halts the JVM with status 2 (after a FAIL line) if the run takes longer than `seconds`. */
    static void startWatchdog(int seconds) {
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(seconds * 1000L);
            } catch (InterruptedException e) {
                return;
            }
            out("FAIL watchdog: the run took longer than " + seconds + " s");
            Runtime.getRuntime().halt(2);
        });
        watchdog.setDaemon(true);
        watchdog.start();
    }

    /**
     * A started client of `connect` (10 s sessions, 5 s connection timeout, exponential
     * backoff; nodes created without data get `defaultData` when it is not null), connected
     * within `waitSeconds`.
     *
     * @throws IllegalStateException when it did not connect in time
     */
    static CuratorFramework connect(String connect, byte[] defaultData, int waitSeconds)
            throws InterruptedException {
        CuratorFrameworkFactory.Builder builder = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(10_000)
                .connectionTimeoutMs(5_000)
                .retryPolicy(new ExponentialBackoffRetry(50, 5));
        if (defaultData != null) {
            builder = builder.defaultData(defaultData);
        }
        CuratorFramework client = builder.build();
        client.start();
        if (!client.blockUntilConnected(waitSeconds, TimeUnit.SECONDS)) {
            client.close();
            throw new IllegalStateException("not connected to " + connect + " within " + waitSeconds + " s");
        }
        return client;
    }

    /**
     * Tells the Rust side this program is ready (prints "READY" and creates the node
     * `root + "/jvm-ready"`, which `support::await_jvm_ready` polls for), then waits for its
     * start signal, the node `root + "/go"`, for at most 20 s; exits with status 1 (after a
     * FAIL line) if either fails.
     */
    static void awaitGo(CuratorFramework client, String root) {
        out("READY");
        try {
            client.create().forPath(root + "/jvm-ready");
        } catch (Exception e) {
            out("FAIL ready: " + e);
            e.printStackTrace();
            System.exit(1);
        }
        try {
            long deadline = System.currentTimeMillis() + 20_000;
            while (client.checkExists().forPath(root + "/go") == null) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("no " + root + "/go within 20 s");
                }
                Thread.sleep(5);
            }
        } catch (Exception e) {
            out("FAIL go: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }
}
