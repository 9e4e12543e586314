// Apache Curator's own cluster test of LeaderLatch (TestLeaderLatchCluster.testInCluster, in
// curator-recipes), as a program against an ensemble the Rust side runs and kills members of.
//
// Usage: java CuratorCluster <root> <member 0 connect string> <member 1> ...
//
// As in Curator's test, each of the clients (Debian's libcurator-*-java 5.4, 10 s sessions)
// knows one member only, and each runs a LeaderLatch on <root>/latch with the id "c<i>". Once
// exactly one of them leads, the program prints "LEADER <i>" and creates <root>/leader holding
// <i>; the Rust side then kills member <i> and creates <root>/killed. The leader's client can
// reach no member any more: its latch must give leadership up, its session expires on the
// ensemble, and one of the others must lead (exactly one, within 30 s): it prints
// "NEW LEADER <j>" and "DONE" and exits 0. "FAIL <what>" and status 1 at the first failure; a
// watchdog halts the JVM with status 2 after WATCHDOG_SECONDS.
// Compiled and run by zk-recipes/tests/ensemble_failover.rs.

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;

public final class CuratorCluster {
    private static final int WATCHDOG_SECONDS = 80;

    /** The indices of the latches in `among` that lead now. */
    private static List<Integer> leaders(List<LeaderLatch> latches, List<Integer> among) {
        List<Integer> out = new ArrayList<>();
        for (int i : among) {
            if (latches.get(i).hasLeadership()) {
                out.add(i);
            }
        }
        return out;
    }

    /** Waits (at most `seconds`) until exactly one latch of `among` leads; returns it. */
    private static int oneLeader(List<LeaderLatch> latches, List<Integer> among, int seconds) throws Exception {
        long deadline = System.currentTimeMillis() + seconds * 1000L;
        while (System.currentTimeMillis() < deadline) {
            List<Integer> now = leaders(latches, among);
            if (now.size() == 1) {
                return now.get(0);
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("no single leader among " + among + " within " + seconds
                + " s: " + leaders(latches, among));
    }

    public static void main(String[] args) throws Exception {
        CuratorSupport.startWatchdog(WATCHDOG_SECONDS);
        String root = args[0];
        int n = args.length - 1;
        List<CuratorFramework> clients = new ArrayList<>();
        List<LeaderLatch> latches = new ArrayList<>();
        List<Integer> all = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                CuratorFramework client = CuratorSupport.connect(args[1 + i], null, 20);
                clients.add(client);
                LeaderLatch latch = new LeaderLatch(client, root + "/latch", "c" + i);
                latch.start();
                latches.add(latch);
                all.add(i);
            }
            int leader = oneLeader(latches, all, 20);
            CuratorSupport.out("LEADER " + leader);
            CuratorFramework other = clients.get((leader + 1) % n);
            other.create().forPath(root + "/leader", Integer.toString(leader).getBytes(StandardCharsets.UTF_8));

            long deadline = System.currentTimeMillis() + 30_000;
            while (other.checkExists().forPath(root + "/killed") == null) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("no " + root + "/killed within 30 s");
                }
                Thread.sleep(20);
            }
            List<Integer> survivors = new ArrayList<>(all);
            survivors.remove(Integer.valueOf(leader));
            int next = oneLeader(latches, survivors, 30);
            if (latches.get(leader).hasLeadership()) {
                throw new IllegalStateException("two leaders: c" + leader + " still leads after its member died");
            }
            CuratorSupport.out("NEW LEADER " + next);
            for (int i : survivors) {
                latches.get(i).close();
                clients.get(i).close();
            }
            CuratorSupport.out("DONE");
            Runtime.getRuntime().halt(0);
        } catch (Exception e) {
            CuratorSupport.out("FAIL " + e);
            e.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
    }
}
