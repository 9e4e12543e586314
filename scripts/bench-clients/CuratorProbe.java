// One Curator client reading and writing without pause, for the member-failover scenarios of
// examples/quorum_failover (F: the follower it is on dies; L: the quorum leader dies).
//
//   java -cp CURATOR_CP:DIR CuratorProbe --connect HOSTS --path /probe [--session-timeout-ms 10000]
//
// Debian's Curator 5.4.0 (ZooKeeper 3.8.0 client) with its defaults but the session timeout;
// operations retry with ExponentialBackoffRetry(100 ms, 3), as in Curator's documentation. Two
// threads loop, each 10 ms apart: one reads <path>, one writes it; a failed operation is
// simply tried again. A ConnectionStateListener records SUSPENDED / RECONNECTED / LOST with the
// wall clock.
//
// Prints one JSON object per line on stdout:
//   {"ev":"on","server":"HOST:PORT"}           once connected (the member it is on)
//   {"ev":"result","server":...,"disconnected":T,"reconnected":T,"read":T,"write":T}
// where each T is µs since the epoch or null: the first disconnection at or after t0, the first
// reconnection after it, and the completion of the first read and of the first write that
// started at or after t0 and succeeded. It waits for "killed <t0 µs>" on stdin, prints the
// result once it has all four (or after 40 s), and halts.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;

public final class CuratorProbe {
    private static final long LIMIT_MS = 40_000;

    private static long nowUs() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000L + i.getNano() / 1_000;
    }

    private static final class Op {
        final boolean read;
        final long started;
        final long ended;

        Op(boolean read, long started, long ended) {
            this.read = read;
            this.started = started;
            this.ended = ended;
        }
    }

    private static final List<long[]> STATES = new ArrayList<>(); // {t, 0 suspended/lost | 1 reconnected}
    private static final List<Op> OPS = new ArrayList<>();
    private static volatile boolean stop;

    private static String json(Long v) {
        return v == null ? "null" : Long.toString(v);
    }

    public static void main(String[] args) throws Exception {
        String connect = "";
        String path = "";
        int sessionTimeoutMs = 10_000;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--connect": connect = args[i + 1]; break;
                case "--path": path = args[i + 1]; break;
                case "--session-timeout-ms": sessionTimeoutMs = Integer.parseInt(args[i + 1]); break;
                default: throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(sessionTimeoutMs)
                .retryPolicy(new ExponentialBackoffRetry(100, 3))
                .build();
        c.getConnectionStateListenable().addListener((client, state) -> {
            synchronized (STATES) {
                if (state == ConnectionState.SUSPENDED || state == ConnectionState.LOST) {
                    STATES.add(new long[] {nowUs(), 0});
                } else if (state == ConnectionState.RECONNECTED) {
                    STATES.add(new long[] {nowUs(), 1});
                }
            }
        });
        c.start();
        if (!c.blockUntilConnected(30, java.util.concurrent.TimeUnit.SECONDS)) {
            System.out.println("{\"ev\":\"error\",\"what\":\"not connected\"}");
            Runtime.getRuntime().halt(1);
        }
        final String node = path;
        if (c.checkExists().forPath(node) == null) {
            c.create().creatingParentsIfNeeded().forPath(node, new byte[0]);
        }
        Matcher m = Pattern.compile("remoteserver:\\S*?/?(\\d+\\.\\d+\\.\\d+\\.\\d+:\\d+)")
                .matcher(c.getZookeeperClient().getZooKeeper().toString());
        String server = m.find() ? m.group(1) : "";
        System.out.println("{\"ev\":\"on\",\"server\":\"" + server + "\"}");
        System.out.flush();
        for (boolean read : new boolean[] {true, false}) {
            Thread t = new Thread(() -> {
                while (!stop) {
                    long started = nowUs();
                    try {
                        if (read) {
                            c.getData().forPath(node);
                        } else {
                            c.setData().forPath(node, "x".getBytes(StandardCharsets.UTF_8));
                        }
                        synchronized (OPS) {
                            OPS.add(new Op(read, started, nowUs()));
                        }
                    } catch (Exception e) {
                        // tried again below
                    }
                    try {
                        Thread.sleep(10);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            t.setDaemon(true);
            t.start();
        }
        String line = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
        String[] words = line == null ? new String[0] : line.trim().split(" ");
        long t0 = words.length == 2 && words[0].equals("killed") ? Long.parseLong(words[1]) : nowUs();
        long deadline = System.currentTimeMillis() + LIMIT_MS;
        Long lost = null;
        Long back = null;
        Long read = null;
        Long write = null;
        while (System.currentTimeMillis() < deadline) {
            lost = null;
            back = null;
            synchronized (STATES) {
                for (long[] s : STATES) {
                    if (lost == null && s[0] >= t0 && s[1] == 0) {
                        lost = s[0];
                    } else if (lost != null && back == null && s[0] > lost && s[1] == 1) {
                        back = s[0];
                    }
                }
            }
            read = null;
            write = null;
            synchronized (OPS) {
                for (Op op : OPS) {
                    if (op.started < t0) {
                        continue;
                    }
                    if (op.read && (read == null || op.ended < read)) {
                        read = op.ended;
                    } else if (!op.read && (write == null || op.ended < write)) {
                        write = op.ended;
                    }
                }
            }
            if (lost != null && back != null && read != null && write != null) {
                break;
            }
            Thread.sleep(20);
        }
        stop = true;
        System.out.println("{\"ev\":\"result\",\"server\":\"" + server + "\",\"disconnected\":" + json(lost)
                + ",\"reconnected\":" + json(back) + ",\"read\":" + json(read) + ",\"write\":" + json(write) + "}");
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }
}
