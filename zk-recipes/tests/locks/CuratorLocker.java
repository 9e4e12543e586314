// Apache Curator's InterProcessMutex (Debian's libcurator-*-java 5.4) contending with
// zk-recipes' InterProcessMutex on the same lock path.
//
// Usage: java CuratorLocker <connect string> <root> <iterations> <log file>
//
// Connects CLIENTS Curator clients (each with its own session; each client's default node data
// is "curator-<i>", so the lock nodes say whose they are), prints "READY", creates
// <root>/jvm-ready, then waits for the node <root>/go (created by the Rust test once its own
// sessions are ready; see CuratorSupport.awaitGo). Each client then loops <iterations> times
// on the lock <root>/lock:
//   acquire; append "curator-<i> acquired" to the log file; read the counter <root>/counter,
//   sleep a few ms, write it back plus one (no version check: two holders would lose an
//   update); print "QUEUE curator-<i> <participant nodes>" as Curator sees the queue; append
//   "curator-<i> released"; release.
// Prints "DONE" and exits 0 at the end; "FAIL <what>: <exception>" and status 1 at the first
// failure; a watchdog halts the JVM with status 2 after WATCHDOG_SECONDS.
// Compiled and run by zk-recipes/tests/locks/curator_mix.rs.

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;

public final class CuratorLocker {
    private static final int WATCHDOG_SECONDS = 40;
    private static final int CLIENTS = 2;

    private static void log(Path file, String line) throws Exception {
        // One small O_APPEND write per line: lines from both processes never interleave.
        Files.write(file, (line + "\n").getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE,
                StandardOpenOption.APPEND, StandardOpenOption.WRITE);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: java CuratorLocker <connect> <root> <iterations> <log file>");
            System.exit(64);
        }
        String connect = args[0];
        String root = args[1];
        int iterations = Integer.parseInt(args[2]);
        Path logFile = Paths.get(args[3]);
        CuratorSupport.startWatchdog(WATCHDOG_SECONDS);

        List<CuratorFramework> clients = new ArrayList<>();
        try {
            for (int i = 0; i < CLIENTS; i++) {
                byte[] defaultData = ("curator-" + i).getBytes(StandardCharsets.UTF_8);
                CuratorFramework c = CuratorSupport.connect(connect, defaultData, 10);
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
        for (int i = 0; i < CLIENTS; i++) {
            CuratorFramework c = clients.get(i);
            String who = "curator-" + i;
            Thread t = new Thread(() -> {
                try {
                    InterProcessMutex mutex = new InterProcessMutex(c, root + "/lock");
                    for (int n = 0; n < iterations; n++) {
                        if (!mutex.acquire(20, TimeUnit.SECONDS)) {
                            throw new IllegalStateException(who + " could not acquire within 20 s");
                        }
                        try {
                            log(logFile, who + " acquired");
                            byte[] data = c.getData().forPath(root + "/counter");
                            long value = Long.parseLong(new String(data, StandardCharsets.UTF_8).trim());
                            Thread.sleep(3);
                            c.setData().forPath(root + "/counter",
                                    Long.toString(value + 1).getBytes(StandardCharsets.UTF_8));
                            Collection<String> queue = mutex.getParticipantNodes();
                            CuratorSupport.out("QUEUE " + who + " " + String.join(",", queue));
                            log(logFile, who + " released");
                        } finally {
                            mutex.release();
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    CuratorSupport.out("FAIL " + who + ": " + e);
                    e.printStackTrace();
                }
            }, who);
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
