// Apache Curator's DistributedQueue (Debian's libcurator-*-java 5.4) on the same queue path as
// zk-recipes' DistributedQueue, with byte[] items (an identity QueueSerializer).
//
// Usage: java CuratorQueue <connect string> <queue path> <lock path> produce|consume <count>
//   produce: put()s "curator-0" .. "curator-<count-1>" one by one, then putMulti()s
//            "curator-m0", "curator-m1" into one node (foreground puts); prints "DONE".
//   consume: runs a consumer with the lock path (Curator's at-least-once mode) until it has
//            consumed <count> items, printing "GOT <item>" for each; prints "DONE".
// Exits 0 at the end; "FAIL <what>: <exception>" and status 1 at the first failure; a watchdog
// halts the JVM with status 2 after WATCHDOG_SECONDS.
// Compiled and run by zk-recipes/tests/queue/curator_mix.rs.

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Iterator;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.MultiItem;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.state.ConnectionState;

public final class CuratorQueue {
    private static final int WATCHDOG_SECONDS = 40;

    private static final QueueSerializer<byte[]> BYTES = new QueueSerializer<byte[]>() {
        @Override
        public byte[] serialize(byte[] item) {
            return item;
        }

        @Override
        public byte[] deserialize(byte[] bytes) {
            return bytes;
        }
    };

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            CuratorSupport.out("FAIL usage: CuratorQueue <connect> <queue path> <lock path> produce|consume <count>");
            System.exit(1);
        }
        CuratorSupport.startWatchdog(WATCHDOG_SECONDS);
        String connect = args[0], path = args[1], lockPath = args[2], mode = args[3];
        int count = Integer.parseInt(args[4]);
        CuratorFramework client = null;
        try {
            client = CuratorSupport.connect(connect, null, 20);
            if (mode.equals("produce")) {
                produce(client, path, count);
            } else {
                consume(client, path, lockPath, count);
            }
            CuratorSupport.out("DONE");
        } catch (Exception e) {
            CuratorSupport.out("FAIL " + mode + ": " + e);
            System.exit(1);
        } finally {
            if (client != null) {
                client.close();
            }
        }
        System.exit(0);
    }

    private static void produce(CuratorFramework client, String path, int count) throws Exception {
        DistributedQueue<byte[]> queue =
                QueueBuilder.builder(client, null, BYTES, path).putInBackground(false).buildQueue();
        queue.start();
        for (int i = 0; i < count; i++) {
            queue.put(("curator-" + i).getBytes(StandardCharsets.UTF_8));
        }
        Iterator<String> many = Arrays.asList("curator-m0", "curator-m1").iterator();
        queue.putMulti(new MultiItem<byte[]>() {
            @Override
            public byte[] nextItem() {
                return many.hasNext() ? many.next().getBytes(StandardCharsets.UTF_8) : null;
            }
        });
        queue.close();
    }

    private static void consume(CuratorFramework client, String path, String lockPath, int count)
            throws Exception {
        CountDownLatch left = new CountDownLatch(count);
        QueueConsumer<byte[]> consumer = new QueueConsumer<byte[]>() {
            @Override
            public void consumeMessage(byte[] item) {
                CuratorSupport.out("GOT " + new String(item, StandardCharsets.UTF_8));
                left.countDown();
            }

            @Override
            public void stateChanged(CuratorFramework c, ConnectionState state) {}
        };
        DistributedQueue<byte[]> queue =
                QueueBuilder.builder(client, consumer, BYTES, path).lockPath(lockPath).buildQueue();
        queue.start();
        if (!left.await(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException(left.getCount() + " items not consumed");
        }
        // The last item is counted before Curator deletes it: close (which interrupts the
        // consumer thread) only once no item is left, for at most 30 s.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (client.getChildren().forPath(path).stream().anyMatch(n -> n.startsWith("queue-"))) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("consumed items were not deleted");
            }
            Thread.sleep(20);
        }
        queue.close();
    }
}
