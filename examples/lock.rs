//! Distributed locks: several "workers" (each its own ZooKeeper session, as separate processes
//! would be) share one job under an `InterProcessMutex`, readers and a writer share a config
//! under an `InterProcessReadWriteLock`, and an `InterProcessSemaphore` caps how many workers
//! run at once. The znode layouts are Curator's, so Java processes using Curator's recipes on
//! the same paths take part in the same locks.
//!
//! ```text
//! cargo run --example lock                                 # on the embedded server
//! ZK_CONNECT=zk1:2181,zk2:2181 cargo run --example lock    # or on your ensemble
//! ```
//!
//! Exits non-zero if a lock ever let two holders in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_core::{Client, CreateMode, Op};
use zk_examples::{BoxError, Sandbox};
use zk_recipes::{InterProcessMutex, InterProcessReadWriteLock, InterProcessSemaphore};

const WORKERS: usize = 4;
const ROUNDS: usize = 5;
/// How long any one step may take before the example gives up.
const STEP: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Where is ZooKeeper? The embedded server unless ZK_CONNECT names an ensemble (see
    // lib.rs). Everything lives under one root, `/lock-example-<pid>`, so runs never collide;
    // every worker's session is chrooted to it.
    let sandbox = Sandbox::create("lock-example").await?;
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        workers.push(Client::connect(&sandbox.chrooted).await?);
    }

    mutex(&workers).await?;
    read_write(&workers).await?;
    semaphore(&workers).await?;

    for w in &workers {
        w.close().await;
    }
    sandbox.remove().await?;
    println!("lock example complete");
    Ok(())
}

/// Every worker increments a counter node ROUNDS times with a read-modify-write that is only
/// correct because the mutex serialises it (no version check on purpose).
async fn mutex(workers: &[Client]) -> Result<(), BoxError> {
    workers[0].create("/job-counter", b"0", CreateMode::Persistent).await?;
    let mut tasks = Vec::new();
    for (i, client) in workers.iter().enumerate() {
        // `with_id` is what Curator shows as the participant's data.
        let mutex =
            InterProcessMutex::new(client.clone(), "/locks/job")?.with_id(format!("worker-{i}").as_bytes());
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let guard = mutex.acquire().await?; // waits on its predecessor only
                let (data, _) = client.get_data("/job-counter").await?;
                let n: usize = String::from_utf8(data)?.parse()?;
                // A fenced write is applied only while our lock node still exists: if our
                // session expired meanwhile, the write fails instead of racing the next holder.
                guard.fenced(&[Op::set_data("/job-counter", (n + 1).to_string().as_bytes(), None)]).await?;
                guard.release().await?; // dropping the guard would release it too
            }
            Ok::<_, BoxError>(())
        }));
    }
    for task in tasks {
        tokio::time::timeout(STEP, task).await???;
    }
    let (data, _) = workers[0].get_data("/job-counter").await?;
    let total = String::from_utf8(data)?;
    println!("mutex: {WORKERS} workers x {ROUNDS} locked increments -> counter = {total}");
    if total != (WORKERS * ROUNDS).to_string() {
        return Err(format!("lost updates: expected {}, got {total}", WORKERS * ROUNDS).into());
    }
    Ok(())
}

/// Readers share the lock; a writer waits for them and keeps them out while it writes.
async fn read_write(workers: &[Client]) -> Result<(), BoxError> {
    let locks: Vec<_> = workers
        .iter()
        .map(|c| InterProcessReadWriteLock::new(c.clone(), "/locks/config"))
        .collect::<Result<_, _>>()?;
    let r0 = locks[0].read_lock().acquire().await?;
    let r1 = locks[1].read_lock().acquire().await?; // readers do not wait for each other
    let blocked = locks[2].write_lock().try_acquire().await?.is_none();
    println!("read/write: two readers hold the lock; a writer gets in now? {}", !blocked);
    if !blocked {
        return Err("a writer got in while readers held the lock".into());
    }
    // The writer queues behind the readers (polling the pinned future for a moment puts its
    // node in line without giving it up) and is let in when both readers are done.
    let waiting = locks[2].write_lock().acquire();
    tokio::pin!(waiting);
    if tokio::time::timeout(Duration::from_millis(100), &mut waiting).await.is_ok() {
        return Err("the writer did not wait for the readers".into());
    }
    r0.release().await?;
    r1.release().await?;
    let w = tokio::time::timeout(STEP, waiting).await??;
    let reader_blocked = locks[3].read_lock().try_acquire().await?.is_none();
    println!("read/write: readers released, the writer holds it; a reader gets in now? {}", !reader_blocked);
    w.release().await?;
    if !reader_blocked {
        return Err("a reader got in while the writer held the lock".into());
    }
    Ok(())
}

/// At most two of the workers run the "expensive" section at once.
async fn semaphore(workers: &[Client]) -> Result<(), BoxError> {
    const LEASES: usize = 2;
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in workers {
        let semaphore = InterProcessSemaphore::new(client.clone(), "/semaphores/expensive", LEASES)?;
        let (running, peak) = (running.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let lease = semaphore.acquire().await?;
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await; // the expensive work
            running.fetch_sub(1, Ordering::SeqCst);
            lease.release().await?;
            Ok::<_, BoxError>(())
        }));
    }
    for task in tasks {
        tokio::time::timeout(STEP, task).await???;
    }
    let peak = peak.load(Ordering::SeqCst);
    println!("semaphore: {WORKERS} workers, {LEASES} leases -> at most {peak} ran at once");
    if peak > LEASES {
        return Err(format!("{peak} workers held leases at once, limit {LEASES}").into());
    }
    Ok(())
}
