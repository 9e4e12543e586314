// A group of Curator LeaderLatch participants, each on its own CuratorFramework (its own
// session), driven by examples/quorum_failover.rs.
//
//   javac -cp CURATOR_CP -d DIR CuratorLatch.java
//   java -cp CURATOR_CP:DIR CuratorLatch --connect 127.0.0.1:2181 --path /election \
//       [--participants 3] [--session-timeout-ms 4000]
//
// CURATOR_CP: curator-recipes, curator-framework, curator-client, zookeeper, zookeeper-jute,
// guava, slf4j-api and slf4j-nop from /usr/share/java (Debian's Curator 5.4.0, ZooKeeper 3.8.0).
// Curator's defaults everywhere except the session timeout: StandardConnectionStateErrorPolicy,
// simulatedSessionExpirationPercent 100, connection timeout 15 s; operations retry with
// ExponentialBackoffRetry(100 ms, 3) as in Curator's documentation.
//
// Prints one JSON object per line on stdout, each with "t_us" (wall clock, µs since the epoch,
// so the driver can line events up with its own clock) and "ev":
//   conn    {"p","state" (Curator's ConnectionState),"up","session"}  from a ConnectionStateListener
//   leader  {"p","leader","node"}                                     from a LeaderLatchListener
//   ready   once every participant is connected and its latch started
//   status  {"p","session","up","leader","node","owned"} per participant ("owned": its node
//           exists and its current session owns it; null when unknown), then
//   status_end {"first"}: the first latch node on the server (Curator's order), or null
//   error   {"what"}, bye
// Reads commands on stdin, one per line: "status", or "quit" (so does end of input): closes
// every latch and client (bounded by a watchdog) and exits 0.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.ZooKeeper;

public final class CuratorLatch {
    /** How long starting (connecting every participant) and one status read may take. */
    private static final long CONNECT_MS = 30_000;
    private static final long READ_MS = 3_000;
    /** How long closing may take before the JVM halts anyway. */
    private static final long QUIT_MS = 15_000;

    private static String connect = "";
    private static String path = "";
    private static int participants = 3;
    private static int sessionTimeoutMs = 4_000;

    private static final List<CuratorFramework> clients = new ArrayList<>();
    private static final List<LeaderLatch> latches = new ArrayList<>();

    private static synchronized void emit(String fields) {
        Instant now = Instant.now();
        long us = now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
        System.out.println("{\"lib\":\"curator\",\"t_us\":" + us + "," + fields + "}");
        System.out.flush();
    }

    private static String str(String s) {
        return s == null ? "null" : "\"" + s.replace('"', '\'').replace('\\', '/') + "\"";
    }

    private static String session(CuratorFramework client) {
        try {
            return str("0x" + Long.toHexString(client.getZookeeperClient().getZooKeeper().getSessionId()));
        } catch (Exception e) {
            return "null";
        }
    }

    private static void usage(String why) {
        System.err.println("CuratorLatch: " + why);
        System.err.println("usage: CuratorLatch --connect HOST:PORT,... --path /election "
                + "[--participants N] [--session-timeout-ms MS]");
        System.exit(2);
    }

    private static void parseArgs(String[] args) {
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) usage(args[i] + " needs a value");
            String v = args[i + 1];
            switch (args[i]) {
                case "--connect": connect = v; break;
                case "--path": path = v; break;
                case "--participants": participants = Integer.parseInt(v); break;
                case "--session-timeout-ms": sessionTimeoutMs = Integer.parseInt(v); break;
                default: usage("unknown flag " + args[i]);
            }
        }
        if (connect.isEmpty() || path.isEmpty()) usage("--connect and --path are required");
    }

    private static void startParticipant(int p) throws Exception {
        CuratorFramework client = CuratorFrameworkFactory.builder().connectString(connect)
                .sessionTimeoutMs(sessionTimeoutMs).retryPolicy(new ExponentialBackoffRetry(100, 3)).build();
        client.getConnectionStateListenable().addListener((c, state) -> emit("\"ev\":\"conn\",\"p\":" + p
                + ",\"state\":" + str(state.name()) + ",\"up\":" + state.isConnected() + ",\"session\":" + session(c)));
        client.start();
        if (!client.blockUntilConnected((int) CONNECT_MS, TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("participant " + p + " not connected within " + CONNECT_MS + " ms");
        }
        LeaderLatch latch = new LeaderLatch(client, path, "p" + p);
        latch.addListener(new LeaderLatchListener() {
            @Override
            public void isLeader() {
                emit("\"ev\":\"leader\",\"p\":" + p + ",\"leader\":true,\"node\":" + str(latch.getOurPath()));
            }

            @Override
            public void notLeader() {
                emit("\"ev\":\"leader\",\"p\":" + p + ",\"leader\":false,\"node\":" + str(latch.getOurPath()));
            }
        });
        clients.add(client);
        latches.add(latch);
        latch.start();
    }

    /** The sequence suffix Curator sorts latch nodes by (the text after "latch-"). */
    private static String sequence(String name) {
        int at = name.lastIndexOf("latch-");
        return at < 0 ? name : name.substring(at + "latch-".length());
    }

    /** The first latch node, read with the plain ZooKeeper handle of a connected participant. */
    private static String firstNode() {
        for (CuratorFramework client : clients) {
            if (!client.getZookeeperClient().isConnected()) continue;
            try {
                ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
                AtomicReference<List<String>> children = new AtomicReference<>();
                CountDownLatch done = new CountDownLatch(1);
                zk.getChildren(path, false, (rc, p, ctx, list) -> {
                    if (rc == 0) children.set(list);
                    done.countDown();
                }, null);
                if (!done.await(READ_MS, TimeUnit.MILLISECONDS) || children.get() == null) continue;
                return children.get().stream().min(Comparator.comparing(CuratorLatch::sequence))
                        .map(n -> path + "/" + n).orElse(null);
            } catch (Exception e) {
                // Try the next participant's session.
            }
        }
        return null;
    }

    /** Whether `node` exists and the client's current session owns it; null when unknown. */
    private static String owned(CuratorFramework client, String node) {
        if (node == null || !client.getZookeeperClient().isConnected()) return "null";
        try {
            ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
            AtomicReference<String> owned = new AtomicReference<>("null");
            CountDownLatch done = new CountDownLatch(1);
            zk.exists(node, false, (rc, p, ctx, stat) -> {
                if (rc == 0) owned.set(String.valueOf(stat.getEphemeralOwner() == zk.getSessionId()));
                if (rc == -101) owned.set("false"); // NONODE
                done.countDown();
            }, null);
            return done.await(READ_MS, TimeUnit.MILLISECONDS) ? owned.get() : "null";
        } catch (Exception e) {
            return "null";
        }
    }

    private static void status() {
        for (int p = 0; p < latches.size(); p++) {
            CuratorFramework client = clients.get(p);
            LeaderLatch latch = latches.get(p);
            String node = latch.getOurPath();
            emit("\"ev\":\"status\",\"p\":" + p + ",\"session\":" + session(client) + ",\"up\":"
                    + client.getZookeeperClient().isConnected() + ",\"leader\":" + latch.hasLeadership()
                    + ",\"node\":" + str(node) + ",\"owned\":" + owned(client, node));
        }
        emit("\"ev\":\"status_end\",\"first\":" + str(firstNode()));
    }

    private static void quit(int code) {
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(QUIT_MS);
            } catch (InterruptedException e) {
                return;
            }
            Runtime.getRuntime().halt(code == 0 ? 3 : code);
        });
        watchdog.setDaemon(true);
        watchdog.start();
        for (LeaderLatch latch : latches) {
            try {
                latch.close();
            } catch (Exception e) {
                // The session's end deletes the node anyway.
            }
        }
        for (CuratorFramework client : clients) client.close();
        emit("\"ev\":\"bye\"");
        System.exit(code);
    }

    public static void main(String[] args) throws Exception {
        parseArgs(args);
        try {
            for (int p = 0; p < participants; p++) startParticipant(p);
        } catch (Exception e) {
            emit("\"ev\":\"error\",\"what\":" + str(e.toString()));
            quit(1);
        }
        emit("\"ev\":\"ready\"");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            switch (line.trim()) {
                case "status": status(); break;
                case "quit": quit(0); break;
                default: emit("\"ev\":\"error\",\"what\":" + str("unknown command " + line));
            }
        }
        quit(0);
    }
}
