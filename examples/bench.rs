//! Load generator for any ZooKeeper connect string.
//!
//! ```text
//! cargo run --release --example bench -- --connect 127.0.0.1:2181 --workload get \
//!     --ops 100000 --concurrency 1000 [--payload 100] [--threads 1] [--warmup N]
//! cargo run --release --example bench -- --real --workload get ...
//! ```
//!
//! `--help` lists every flag with its default; a bad flag or value exits with status 2.
//! `--keep` leaves the nodes in place (to measure a server's memory with them loaded).
//! `--real` starts a fresh real ZooKeeper 3.8 (Debian's package, via zk-testing's harness) on a
//! free loopback port for the run instead of `--connect`. `--warmup N` (default: a tenth of
//! `--ops`) runs N unmeasured operations first, so the JVM server's JIT is warm.
//!
//! Workloads: `create`, `get`, `set`, `delete`, `mixed` (80% get, 20% set), `lock`, `failover`,
//! `cache`, `queue`.
//! For the
//! data workloads `--concurrency` is the number of requests kept in flight on ONE client
//! (pipelining); 1 is sequential. For `lock` (zk-recipes' InterProcessMutex) it is the number
//! of sessions contending for one lock: 1 measures uncontended acquire+release, K > 1 the
//! handoffs per second between K sessions; `--ops` counts acquire+release pairs in total.
//! For `failover` (zk-recipes' LeaderLatch) `--concurrency` is the number of participants
//! (at least 2), each on its own session; each of the `--ops` failovers closes the leader's
//! session and measures until the successor's `Elected` event; the closed participant then
//! rejoins on a new session (not measured).
//! For `cache` (zk-recipes' TreeCache) `--concurrency` is the number of caches, each on its own
//! session, on a tree of 100 nodes; each of the `--ops` samples is one `set_data` by a separate
//! writer session, timed from the call until every cache has emitted its `NodeUpdated`.
//! For `queue` (zk-recipes' DistributedQueue) `--concurrency` is the number of producers and of
//! consumers, each on its own session: the producers put `--ops` items in total, then the
//! consumers drain them at-most-once; then the same again drained at-least-once (each item
//! acked). The JSON line has the put, at-most-once and at-least-once rates in items/s, and the
//! CPU time of this process per 1,000 items (each put and taken once).
//! Setup (creating the nodes to read or delete) and clean-up are not measured. The last
//! output line is one JSON object: workload, ops, concurrency, payload, ops_per_sec, p50_us,
//! p99_us, max_us, cpu_ms_per_kop (CPU time of this whole process per 1,000 ops).

use std::process::ExitCode;
use std::time::Instant;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use futures::stream::{FuturesUnordered, StreamExt};
use zk_core::{Client, CreateMode, Error};

/// The workloads, for `--workload`.
const WORKLOADS: [&str; 9] =
    ["create", "get", "set", "delete", "mixed", "lock", "failover", "cache", "queue"];

/// A load generator for any ZooKeeper connect string: runs one workload and prints one JSON
/// line with its throughput, latency percentiles and CPU time.
#[derive(Debug, Clone, Parser)]
#[command(name = "bench")]
struct Args {
    /// The servers to load: host:port[,host:port...][/chroot]. Required unless --real.
    #[arg(long, value_name = "HOST:PORT", env = "ZK_CONNECT", default_value = "", hide_default_value = true)]
    connect: String,
    /// What to measure. create, get, set, delete: one operation each, get and set on 1,000
    /// nodes; mixed: 80% get, 20% set; lock: InterProcessMutex acquire+release; failover:
    /// LeaderLatch handoffs after the leader's session closes; cache: TreeCache update
    /// latency; queue: DistributedQueue put and take rates.
    #[arg(long, default_value = "get", value_parser = WORKLOADS)]
    workload: String,
    /// Measured operations (lock: acquire+release pairs; failover: failovers; cache: updates;
    /// queue: items).
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = at_least_one)]
    ops: usize,
    /// Requests kept in flight on one client (1 is sequential); for lock, failover, cache and
    /// queue, the number of sessions (failover: at least 2).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = at_least_one)]
    concurrency: usize,
    /// Bytes of data per node written.
    #[arg(long, value_name = "BYTES", default_value_t = 100, value_parser = payload_bytes)]
    payload: usize,
    /// Worker threads of the tokio runtime (1: a current-thread runtime).
    #[arg(long, value_name = "T", default_value_t = 1, value_parser = at_least_one)]
    threads: usize,
    /// Unmeasured operations first, so a JVM server's JIT is warm [default: a tenth of --ops].
    #[arg(long, value_name = "N")]
    warmup: Option<usize>,
    /// Start a fresh real ZooKeeper 3.8 (Debian's package) on a free loopback port for the
    /// run, instead of --connect.
    #[arg(long)]
    real: bool,
    /// Leave the nodes in place (to measure a server's memory with them loaded).
    #[arg(long)]
    keep: bool,
}

/// A count, at least 1.
fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A payload size, at most 1,000,000 bytes (under ZooKeeper's 1 MiB frame).
fn payload_bytes(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 1_000_000 => Err("must be at most 1000000 bytes".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The command line, checked; a bad one exits with clap's message and status 2.
fn parse_args() -> Args {
    let a = Args::parse();
    let fail = |kind, message: &str| Args::command().error(kind, message).exit();
    if a.connect.is_empty() && !a.real {
        fail(ErrorKind::MissingRequiredArgument, "--connect HOST:PORT (or ZK_CONNECT) or --real is required");
    }
    if a.workload == "failover" && a.concurrency < 2 {
        fail(
            ErrorKind::ValueValidation,
            "--workload failover needs --concurrency of at least 2 participants",
        );
    }
    a
}

/// CPU time (user + system) of this process, from /proc/self/stat (in USER_HZ = 100 ticks/s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// Number of distinct nodes read or written by get/set/mixed.
const HOT_NODES: usize = 1000;

async fn setup(c: &Client, a: &Args, root: &str) -> Result<(), Error> {
    c.create(root, b"", CreateMode::Persistent).await?;
    let n = match a.workload.as_str() {
        "get" | "set" | "mixed" => a.ops.min(HOT_NODES),
        "delete" => a.ops,
        _ => 0,
    };
    let data = vec![b'x'; a.payload];
    // Pipelined, in chunks, so setup is fast but bounded in memory.
    for chunk in (0..n).collect::<Vec<_>>().chunks(2000) {
        let futs: Vec<_> =
            chunk.iter().map(|i| c.create(&format!("{root}/n{i}"), &data, CreateMode::Persistent)).collect();
        for f in futs {
            f.await?;
        }
    }
    Ok(())
}

/// Deletes what setup and the run created, by name: listing a root with 100,000s of children
/// would need a reply larger than the 1 MiB frame limit.
async fn cleanup(c: &Client, a: &Args, root: &str) -> Result<(), Error> {
    let names: Vec<String> = match a.workload.as_str() {
        "create" => (0..a.ops).map(|i| format!("c{i}")).collect(),
        "delete" => Vec::new(),
        _ => (0..a.ops.min(HOT_NODES)).map(|i| format!("n{i}")).collect(),
    };
    for chunk in names.chunks(2000) {
        let futs: Vec<_> = chunk.iter().map(|n| c.delete(&format!("{root}/{n}"), None)).collect();
        for f in futs {
            match f.await {
                Ok(()) | Err(Error::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
    }
    c.delete(root, None).await
}

fn issue(
    c: &Client,
    a: &Args,
    root: &str,
    i: usize,
    data: &[u8],
) -> impl std::future::Future<Output = Result<(), Error>> {
    // Only the get and set workloads use it.
    let hot = || format!("{root}/n{}", i % HOT_NODES.min(a.ops.max(1)));
    let fut: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Error>> + Send>> =
        match a.workload.as_str() {
            "create" => {
                let f = c.create(&format!("{root}/c{i}"), data, CreateMode::Persistent);
                Box::pin(async move { f.await.map(|_| ()) })
            }
            "get" => {
                let f = c.get_data(&hot());
                Box::pin(async move { f.await.map(|_| ()) })
            }
            "set" => {
                let f = c.set_data(&hot(), data, None);
                Box::pin(async move { f.await.map(|_| ()) })
            }
            "delete" => Box::pin(c.delete(&format!("{root}/n{i}"), None)),
            _ if i % 5 == 0 => {
                let f = c.set_data(&hot(), data, None);
                Box::pin(async move { f.await.map(|_| ()) })
            }
            _ => {
                let f = c.get_data(&hot());
                Box::pin(async move { f.await.map(|_| ()) })
            }
        };
    fut
}

/// Runs `ops` operations with `concurrency` in flight; returns the latencies in µs.
async fn drive(c: &Client, a: &Args, root: &str, first: usize, ops: usize) -> Result<Vec<u32>, Error> {
    let data = vec![b'y'; a.payload];
    let mut lat_us: Vec<u32> = Vec::with_capacity(ops);
    let mut in_flight = FuturesUnordered::new();
    let mut next = first;
    let end = first + ops;
    let mut last_report = Instant::now();
    while next < end || !in_flight.is_empty() {
        while next < end && in_flight.len() < a.concurrency {
            let f = issue(c, a, root, next, &data);
            let started = Instant::now();
            in_flight.push(async move { f.await.map(|()| started.elapsed()) });
            next += 1;
        }
        if let Some(r) = in_flight.next().await {
            lat_us.push(u32::try_from(r?.as_micros()).unwrap_or(u32::MAX));
        }
        if last_report.elapsed().as_secs() >= 2 {
            eprintln!("  {} / {} ops", lat_us.len(), ops);
            last_report = Instant::now();
        }
    }
    Ok(lat_us)
}

async fn run(mut a: Args) -> Result<String, Error> {
    let real = if a.real {
        let zk = zk_testing::RealZooKeeper::start()
            .await
            .map_err(|e| Error::ConnectFailed(format!("starting the real ZooKeeper: {e}")))?;
        a.connect = zk.connect_string();
        eprintln!("bench: started a real ZooKeeper at {}", a.connect);
        Some(zk)
    } else {
        None
    };
    if ["lock", "failover", "cache", "queue"].contains(&a.workload.as_str()) {
        let out = match a.workload.as_str() {
            "lock" => lock_bench(&a).await,
            "failover" => failover_bench(&a).await,
            "queue" => queue_bench(&a).await,
            _ => cache_bench(&a).await,
        };
        if let Some(zk) = real {
            zk.stop().await;
        }
        return out;
    }
    let c = Client::connect(&a.connect).await?;
    let root = format!("/zk-bench-{}-{}", std::process::id(), a.workload);
    let warmup = a.warmup.unwrap_or(a.ops / 10);
    // Deletes need a node per operation, warm-up ones included.
    let total = Args { ops: a.ops + warmup, ..a.clone() };
    setup(&c, &total, &root).await?;
    drive(&c, &a, &root, 0, warmup).await?;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let lat_us = drive(&c, &a, &root, warmup, a.ops).await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    if a.keep {
        eprintln!("bench: keeping {root} (--keep)");
    } else {
        cleanup(&c, &total, &root).await?;
    }
    c.close().await;
    if let Some(zk) = real {
        zk.stop().await;
    }
    let head = format!(
        "\"workload\":\"{}\",\"ops\":{},\"concurrency\":{},\"payload\":{},\"threads\":{}",
        a.workload, a.ops, a.concurrency, a.payload, a.threads
    );
    Ok(summary(&head, a.ops, elapsed, cpu, lat_us))
}

/// `concurrency` sessions each loop acquire+release on one InterProcessMutex until `ops`
/// pairs are done in total; returns the JSON line.
async fn lock_bench(a: &Args) -> Result<String, Error> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let path = format!("/zk-bench-{}-lock", std::process::id());
    let mut clients = Vec::new();
    for _ in 0..a.concurrency {
        clients.push(Client::connect(&a.connect).await?);
    }
    let run = |count: usize| {
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = clients
            .iter()
            .map(|c| {
                let (next, c, path) = (next.clone(), c.clone(), path.clone());
                tokio::spawn(async move {
                    let mutex = zk_recipes::InterProcessMutex::new(c, &path)?;
                    let mut lat = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < count {
                        let t = Instant::now();
                        mutex.acquire().await?.release().await?;
                        lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    Ok::<_, zk_recipes::Error>(lat)
                })
            })
            .collect();
        async move {
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.map_err(|e| Error::Protocol(e.to_string()))?.map_err(recipe_error)?);
            }
            Ok::<_, Error>(all)
        }
    };
    run(a.warmup.unwrap_or(a.ops / 10)).await?;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let lat_us = run(a.ops).await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    for c in &clients {
        c.close().await;
    }
    let head = format!(
        "\"workload\":\"lock\",\"ops\":{},\"concurrency\":{},\"sessions\":{}",
        a.ops, a.concurrency, a.concurrency
    );
    Ok(summary(&head, a.ops, elapsed, cpu, lat_us))
}

/// One LeaderLatch participant of the failover workload, on its own session.
struct Participant {
    client: Client,
    latch: zk_recipes::LeaderLatch,
    events: tokio::task::JoinHandle<()>,
}

/// `concurrency` LeaderLatch participants; `ops` times: close the leader's session, time it
/// until the successor's `Elected`, and let the closed one rejoin on a new session.
async fn failover_bench(a: &Args) -> Result<String, Error> {
    use std::time::Duration;
    use tokio::sync::mpsc;
    let path = format!("/zk-bench-{}-failover", std::process::id());
    let (elected_tx, mut elected) = mpsc::unbounded_channel::<(usize, Instant)>();
    let join = |slot: usize| {
        let (connect, path, tx) = (a.connect.clone(), path.clone(), elected_tx.clone());
        async move {
            let client = Client::connect(&connect).await?;
            let latch = zk_recipes::LeaderLatch::new(client.clone(), &path, format!("p{slot}"))
                .map_err(recipe_error)?;
            let mut stream = latch.events();
            let events = tokio::spawn(async move {
                while let Some(ev) = stream.next().await {
                    if ev == zk_recipes::LatchEvent::Elected {
                        let _ = tx.send((slot, Instant::now()));
                    }
                }
            });
            latch.start().map_err(recipe_error)?;
            // Joined once our node is in place (bounded wait).
            for _ in 0..1000 {
                if latch.node().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok::<_, Error>(Participant { client, latch, events })
        }
    };
    let mut parts = Vec::new();
    for slot in 0..a.concurrency {
        parts.push(join(slot).await?);
    }
    let (mut leader, _) = next_elected(&mut elected).await?;
    let warmup = a.warmup.unwrap_or(a.ops / 10);
    let (mut lat_us, mut cpu0, mut t0) = (Vec::with_capacity(a.ops), 0.0, Instant::now());
    for i in 0..warmup + a.ops {
        if i == warmup {
            (cpu0, t0) = (cpu_seconds(), Instant::now());
        }
        let closed_at = Instant::now();
        parts[leader].client.close().await;
        let (next, at) = next_elected(&mut elected).await?;
        if next == leader {
            return Err(Error::Protocol("the closed participant was elected again".into()));
        }
        if i >= warmup {
            lat_us.push(u32::try_from(at.duration_since(closed_at).as_micros()).unwrap_or(u32::MAX));
        }
        let old = std::mem::replace(&mut parts[leader], join(leader).await?);
        old.events.abort();
        drop(old.latch);
        leader = next;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    for p in parts {
        p.events.abort();
        let _ = p.latch.close().await;
        p.client.close().await;
    }
    let head = format!("\"workload\":\"failover\",\"ops\":{},\"participants\":{}", a.ops, a.concurrency);
    Ok(summary(&head, a.ops, elapsed, cpu, lat_us))
}

/// `concurrency` producers put `ops` items, `concurrency` consumers drain them at-most-once,
/// then the same at-least-once; returns the JSON line with the three rates.
async fn queue_bench(a: &Args) -> Result<String, Error> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use zk_recipes::queue::DistributedQueue;
    let path = format!("/zk-bench-{}-queue", std::process::id());
    let mut queues = Vec::new();
    for _ in 0..a.concurrency {
        let q = DistributedQueue::new(Client::connect(&a.connect).await?, &path).map_err(recipe_error)?;
        queues.push(q);
    }
    let payload = vec![b'x'; a.payload];
    let mut rates = Vec::new();
    let cpu0 = cpu_seconds();
    for at_least_once in [false, true] {
        // Put: each producer takes the next item number until `ops` are put.
        let next = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        let producers: Vec<_> = queues
            .iter()
            .map(|q| {
                let (q, next, payload, ops) = (q.clone(), next.clone(), payload.clone(), a.ops);
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < ops {
                        q.put(&payload).await?;
                    }
                    Ok::<_, zk_recipes::Error>(())
                })
            })
            .collect();
        for p in producers {
            p.await.map_err(|e| Error::Protocol(e.to_string()))?.map_err(recipe_error)?;
        }
        if !at_least_once {
            rates.push(a.ops as f64 / t0.elapsed().as_secs_f64());
        }
        // Consume: until `ops` items are taken in total.
        let taken = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        let consumers: Vec<_> = queues
            .iter()
            .map(|q| {
                let (q, taken, ops) = (q.clone(), taken.clone(), a.ops);
                tokio::spawn(async move {
                    let mut amo = q.at_most_once();
                    let mut alo = q.at_least_once();
                    while taken.load(Ordering::Relaxed) < ops {
                        let wait = std::time::Duration::from_millis(200);
                        let got = if at_least_once {
                            match tokio::time::timeout(wait, alo.next()).await {
                                Ok(Some(d)) => {
                                    d?.ack().await?;
                                    true
                                }
                                _ => false,
                            }
                        } else {
                            matches!(tokio::time::timeout(wait, amo.next()).await, Ok(Some(Ok(_))))
                        };
                        if got {
                            taken.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok::<_, zk_recipes::Error>(())
                })
            })
            .collect();
        let deadline = tokio::time::sleep(std::time::Duration::from_secs(600));
        tokio::pin!(deadline);
        for c in consumers {
            tokio::select! {
                r = c => r.map_err(|e| Error::Protocol(e.to_string()))?.map_err(recipe_error)?,
                () = &mut deadline => return Err(Error::Protocol("the queue was not drained within 600 s".into())),
            }
        }
        rates.push(a.ops as f64 / t0.elapsed().as_secs_f64());
    }
    let cpu = cpu_seconds() - cpu0;
    let admin = queues[0].client().clone();
    // Clean-up is best effort: the rates are measured already.
    let _ = admin.delete_recursive(&path).await;
    for q in &queues {
        q.client().close().await;
    }
    Ok(format!(
        "{{\"workload\":\"queue\",\"items\":{},\"producers\":{},\"consumers\":{},\"payload\":{},\
         \"put_per_sec\":{:.0},\"at_most_once_per_sec\":{:.0},\"at_least_once_per_sec\":{:.0},\
         \"cpu_ms_per_kitem\":{:.2}}}",
        a.ops,
        a.concurrency,
        a.concurrency,
        a.payload,
        rates[0],
        rates[1],
        rates[2],
        cpu * 1000.0 / (2.0 * a.ops as f64 / 1000.0),
    ))
}

/// A recipe error as a zk-core error, for the bench's one error type.
fn recipe_error(e: zk_recipes::Error) -> Error {
    match e {
        zk_recipes::Error::Zk(e) => e,
        other => Error::Protocol(other.to_string()),
    }
}

/// Nodes in the cache workload's tree.
const CACHE_NODES: usize = 100;

/// `concurrency` TreeCaches on a 100-node tree; `ops` times: one `set_data` by a writer, timed
/// until every cache has emitted the matching `NodeUpdated`.
async fn cache_bench(a: &Args) -> Result<String, Error> {
    use std::time::Duration;
    use zk_recipes::cache::{TreeCache, TreeEvent};
    let root = format!("/zk-bench-{}-cache", std::process::id());
    let writer = Client::connect(&a.connect).await?;
    writer.create(&root, b"", CreateMode::Persistent).await?;
    let data = vec![b'x'; a.payload];
    for i in 0..CACHE_NODES {
        writer.create(&format!("{root}/n{i}"), &data, CreateMode::Persistent).await?;
    }
    let mut caches = Vec::new();
    for _ in 0..a.concurrency {
        let cache = TreeCache::new(Client::connect(&a.connect).await?, &root).map_err(recipe_error)?;
        cache.start().map_err(recipe_error)?;
        cache.initialized().await.map_err(recipe_error)?;
        caches.push(cache);
    }
    // Drain the start-up events (NodeAdded for every node, then Initialized).
    for cache in &mut caches {
        for _ in 0..=CACHE_NODES + 1 {
            match tokio::time::timeout(Duration::from_secs(10), cache.next()).await {
                Ok(Some(TreeEvent::Initialized)) => break,
                Ok(Some(_)) => {}
                _ => return Err(Error::Protocol("a cache did not initialize within 10 s".into())),
            }
        }
    }
    let warmup = a.warmup.unwrap_or(a.ops / 10);
    for i in 0..warmup {
        cache_sample(&writer, &mut caches, &root, i).await?;
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut lat_us = Vec::with_capacity(a.ops);
    for i in warmup..warmup + a.ops {
        lat_us.push(cache_sample(&writer, &mut caches, &root, i).await?);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    for cache in &caches {
        cache.close().await.map_err(recipe_error)?;
    }
    writer.delete_recursive(&root).await?;
    writer.close().await;
    let head = format!(
        "\"workload\":\"cache\",\"ops\":{},\"caches\":{},\"payload\":{}",
        a.ops, a.concurrency, a.payload
    );
    Ok(summary(&head, a.ops, elapsed, cpu, lat_us))
}

/// One sample of the cache workload: sets node `i % CACHE_NODES` and waits until every cache
/// emitted its `NodeUpdated`; returns the time taken in µs.
async fn cache_sample(
    writer: &Client,
    caches: &mut [zk_recipes::cache::TreeCache],
    root: &str,
    i: usize,
) -> Result<u32, Error> {
    use std::time::Duration;
    use zk_recipes::cache::TreeEvent;
    let path = format!("{root}/n{}", i % CACHE_NODES);
    let t = Instant::now();
    writer.set_data(&path, format!("{i}").as_bytes(), None).await?;
    for cache in caches.iter_mut() {
        // This cache's next events, until the update of this node (bounded).
        for _ in 0..=CACHE_NODES {
            match tokio::time::timeout(Duration::from_secs(10), cache.next()).await {
                Ok(Some(TreeEvent::NodeUpdated { path: p, .. })) if p == path => break,
                Ok(Some(_)) => {}
                _ => return Err(Error::Protocol(format!("no NodeUpdated for {path} within 10 s"))),
            }
        }
    }
    Ok(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX))
}

/// The next `Elected` (participant slot, when), waiting at most 30 s.
async fn next_elected(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(usize, Instant)>,
) -> Result<(usize, Instant), Error> {
    match tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv()).await {
        Ok(Some(e)) => Ok(e),
        _ => Err(Error::Protocol("no participant was elected within 30 s".into())),
    }
}

/// The JSON line: the `head` fields, then throughput, latency percentiles of `lat_us` (µs)
/// and CPU per 1,000 ops.
fn summary(head: &str, ops: usize, elapsed: f64, cpu: f64, mut lat_us: Vec<u32>) -> String {
    lat_us.sort_unstable();
    let pct = |p: f64| lat_us[((lat_us.len() as f64 * p) as usize).min(lat_us.len() - 1)];
    format!(
        "{{{head},\"elapsed_s\":{elapsed:.3},\"ops_per_sec\":{:.0},\"p50_us\":{},\"p99_us\":{},\
         \"max_us\":{},\"cpu_ms_per_kop\":{:.2}}}",
        ops as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        lat_us[lat_us.len() - 1],
        cpu * 1000.0 / (ops as f64 / 1000.0),
    )
}

fn main() -> ExitCode {
    let args = parse_args();
    let rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("bench: {args:?}");
    match rt.block_on(run(args)) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
