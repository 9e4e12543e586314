// Apache Curator's SharedCount and DistributedAtomicLong (Debian's libcurator-*-java 5.4) on
// the nodes zk-recipes uses, for the byte-layout interop test.
//
// Usage: java CuratorCount <connect string> <root> <increments>
//
// Prints "SHARED <value>" and "LONG <value>" as Curator reads <root>/shared (SharedCount) and
// <root>/long (DistributedAtomicLong), both written by the Rust side first; creates <root>/go
// (the Rust side's signal to start); then increments each counter <increments> times
// (SharedCount by trySetCount loops, DistributedAtomicLong by increment()) while the Rust side
// does the same; prints "DONE". "FAIL <what>" and status 1 on a failure; a watchdog halts with status 2.
// Compiled and run by zk-recipes/tests/counters/curator_mix.rs.

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.retry.RetryNTimes;

public final class CuratorCount {
    private static final int WATCHDOG_SECONDS = 50;

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: java CuratorCount <connect> <root> <increments>");
            System.exit(64);
        }
        String root = args[1];
        int increments = Integer.parseInt(args[2]);
        CuratorSupport.startWatchdog(WATCHDOG_SECONDS);
        CuratorFramework client;
        try {
            client = CuratorSupport.connect(args[0], null, 20);
        } catch (IllegalStateException e) {
            CuratorSupport.out("FAIL connect");
            System.exit(1);
            return;
        }
        try {
            SharedCount shared = new SharedCount(client, root + "/shared", -1);
            shared.start();
            DistributedAtomicLong along =
                    new DistributedAtomicLong(client, root + "/long", new RetryNTimes(10_000, 2));
            AtomicValue<Long> initial = along.get();
            if (!initial.succeeded()) {
                CuratorSupport.out("FAIL get long");
                System.exit(1);
            }
            CuratorSupport.out("SHARED " + shared.getCount());
            CuratorSupport.out("LONG " + initial.postValue());
            client.create().forPath(root + "/go");
            for (int i = 0; i < increments; i++) {
                boolean done = false;
                for (int attempt = 0; attempt < 10_000 && !done; attempt++) {
                    VersionedValue<Integer> seen = shared.getVersionedValue();
                    done = shared.trySetCount(seen, seen.getValue() + 1);
                    if (!done) {
                        Thread.sleep(1);
                    }
                }
                if (!done) {
                    CuratorSupport.out("FAIL shared increment");
                    System.exit(1);
                }
                if (!along.increment().succeeded()) {
                    CuratorSupport.out("FAIL long increment");
                    System.exit(1);
                }
            }
            shared.close();
            CuratorSupport.out("DONE");
        } finally {
            client.close();
        }
        System.exit(0);
    }
}
