// Apache Curator's LeaderLatch or LeaderSelector (Debian's libcurator-*-java 5.4) in one
// election with zk-recipes' LeaderLatch or Election on the same path.
//
// Usage: java CuratorLeader <latch|selector> <connect string> <root> <rounds>
//
// Connects SLOTS Curator clients (each with its own session), prints "READY", creates
// <root>/jvm-ready, then waits for the node <root>/go (created by the Rust test once its nodes
// are set up; see CuratorSupport.awaitGo). Each slot then runs participants one after another
// on the election <root>/election: a participant with the id "curator-<n>" (n unique in this
// JVM, stored as its node's data) joins, waits to lead and runs one term:
//   - no other participant of this JVM believes it leads (an in-process counter);
//   - <root>/owner is "" (else someone else leads: "FAIL two leaders");
//   - one multi, with version checks, sets <root>/owner to its id, increments <root>/terms
//     and creates the sequential node <root>/log/t- holding "<id> <our node name>" (a failed
//     version check means two leaders);
//   - prints "QUEUE <id> <participant ids>" as Curator sees the election;
//   - holds leadership a little, checks it still leads, and resets <root>/owner to "" with a
//     version check (still holding its own id);
// then leaves (closes the latch / returns from takeLeadership). A slot starts a new
// participant as long as the term just run was at most <rounds>.
// Prints "DONE" and exits 0 at the end; "FAIL <what>" and status 1 at the first failure; a
// watchdog halts the JVM with status 2 after WATCHDOG_SECONDS.
// Compiled and run by zk-recipes/tests/leader/curator_mix.rs.

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.data.Stat;

public final class CuratorLeader {
    private static final int WATCHDOG_SECONDS = 40;
    private static final int SLOTS = 2;
    private static final long HOLD_MS = 60;

    private static final AtomicInteger LEADERS_HERE = new AtomicInteger();
    private static final AtomicInteger NEXT_ID = new AtomicInteger();

    private static String str(byte[] data) {
        return data == null ? "" : new String(data, StandardCharsets.UTF_8);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private interface Check {
        boolean stillLeader();
    }

    /** One term of leadership; returns whether the slot should start a new participant. */
    private static boolean term(CuratorFramework c, String root, int rounds, String who, String ourNode,
            Check check, List<Participant> queue) throws Exception {
        int before = LEADERS_HERE.getAndIncrement();
        if (before != 0) {
            throw new IllegalStateException("two leaders in this JVM: " + who + " and another");
        }
        Stat ownerStat = new Stat();
        String owner = str(c.getData().storingStatIn(ownerStat).forPath(root + "/owner"));
        if (!owner.isEmpty()) {
            throw new IllegalStateException("two leaders: " + who + " leads while owner is " + owner);
        }
        Stat termsStat = new Stat();
        int terms = Integer.parseInt(str(c.getData().storingStatIn(termsStat).forPath(root + "/terms")).trim());
        try {
            c.transaction().forOperations(
                    c.transactionOp().setData().withVersion(ownerStat.getVersion()).forPath(root + "/owner", bytes(who)),
                    c.transactionOp().setData().withVersion(termsStat.getVersion())
                            .forPath(root + "/terms", bytes(Integer.toString(terms + 1))),
                    c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                            .forPath(root + "/log/t-", bytes(who + " " + ourNode)));
        } catch (Exception e) {
            throw new IllegalStateException("two leaders: " + who + " could not take the owner node", e);
        }
        CuratorSupport.out("QUEUE " + who + " " + queue.stream().map(Participant::getId).collect(Collectors.joining(",")));
        Thread.sleep(HOLD_MS);
        if (!check.stillLeader()) {
            throw new IllegalStateException(who + " lost leadership during its term");
        }
        Stat after = new Stat();
        owner = str(c.getData().storingStatIn(after).forPath(root + "/owner"));
        if (!owner.equals(who)) {
            throw new IllegalStateException("two leaders: owner became " + owner + " during " + who + "'s term");
        }
        try {
            c.setData().withVersion(after.getVersion()).forPath(root + "/owner", bytes(""));
        } catch (Exception e) {
            throw new IllegalStateException("two leaders: " + who + " could not reset the owner node", e);
        }
        LEADERS_HERE.decrementAndGet();
        return terms + 1 <= rounds;
    }

    private static String leaf(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    /** The name of the election node holding `who` (LeaderSelector does not tell). */
    private static String nodeOf(CuratorFramework c, String election, String who) throws Exception {
        for (String child : c.getChildren().forPath(election)) {
            try {
                if (str(c.getData().forPath(election + "/" + child)).equals(who)) {
                    return child;
                }
            } catch (org.apache.zookeeper.KeeperException.NoNodeException e) {
                // gone meanwhile
            }
        }
        throw new IllegalStateException("no election node holds " + who);
    }

    private static boolean latchParticipant(CuratorFramework c, String root, int rounds) throws Exception {
        String who = "curator-" + NEXT_ID.getAndIncrement();
        LeaderLatch latch = new LeaderLatch(c, root + "/election", who);
        latch.start();
        try {
            if (!latch.await(20, TimeUnit.SECONDS)) {
                throw new IllegalStateException(who + " did not lead within 20 s");
            }
            String ourNode = leaf(latch.getOurPath());
            List<Participant> queue = new ArrayList<>(latch.getParticipants());
            return term(c, root, rounds, who, ourNode, latch::hasLeadership, queue);
        } finally {
            latch.close();
        }
    }

    private static boolean selectorParticipant(CuratorFramework c, String root, int rounds) throws Exception {
        String who = "curator-" + NEXT_ID.getAndIncrement();
        String election = root + "/election";
        CompletableFuture<Boolean> done = new CompletableFuture<>();
        AtomicReference<LeaderSelector> self = new AtomicReference<>();
        LeaderSelector selector = new LeaderSelector(c, election, new LeaderSelectorListenerAdapter() {
            @Override
            public void takeLeadership(CuratorFramework client) {
                try {
                    LeaderSelector s = self.get();
                    String ourNode = nodeOf(client, election, who);
                    List<Participant> queue = new ArrayList<>(s.getParticipants());
                    done.complete(term(client, root, rounds, who, ourNode, s::hasLeadership, queue));
                } catch (Throwable e) {
                    done.completeExceptionally(e);
                }
            }
        });
        self.set(selector);
        selector.setId(who);
        selector.start();
        try {
            return done.get(20, TimeUnit.SECONDS);
        } finally {
            // takeLeadership has returned (or failed): the mutex is being released.
            long deadline = System.currentTimeMillis() + 5_000;
            while (selector.hasLeadership() && System.currentTimeMillis() < deadline) {
                Thread.sleep(5);
            }
            selector.close();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4 || !(args[0].equals("latch") || args[0].equals("selector"))) {
            System.err.println("usage: java CuratorLeader <latch|selector> <connect> <root> <rounds>");
            System.exit(64);
        }
        boolean latchMode = args[0].equals("latch");
        String connect = args[1];
        String root = args[2];
        int rounds = Integer.parseInt(args[3]);
        CuratorSupport.startWatchdog(WATCHDOG_SECONDS);

        List<CuratorFramework> clients = new ArrayList<>();
        try {
            for (int i = 0; i < SLOTS; i++) {
                CuratorFramework c = CuratorSupport.connect(connect, null, 10);
                clients.add(c);
            }
        } catch (Exception e) {
            CuratorSupport.out("FAIL connect: " + e);
            e.printStackTrace();
            System.exit(1);
        }
        CuratorSupport.awaitGo(clients.get(0), root);

        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < SLOTS; i++) {
            CuratorFramework c = clients.get(i);
            Thread t = new Thread(() -> {
                try {
                    boolean again = true;
                    while (again && failure.get() == null) {
                        again = latchMode ? latchParticipant(c, root, rounds) : selectorParticipant(c, root, rounds);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    CuratorSupport.out("FAIL slot: " + e + (e.getCause() != null ? " caused by " + e.getCause() : ""));
                    e.printStackTrace();
                }
            }, "slot-" + i);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        for (CuratorFramework c : clients) {
            c.close();
        }
        if (failure.get() != null) {
            System.exit(1);
        }
        CuratorSupport.out("DONE");
        System.exit(0);
    }
}
