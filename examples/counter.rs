//! Shared counters with Curator's byte layouts, so Java processes using Curator (or Python
//! ones using kazoo's `Counter` in Curator mode, for the `SharedCount`) share them with ours:
//!
//! - `DistributedAtomicLong`: several sessions increment one `i64` at once; each update is an
//!   optimistic compare-and-set on the node's version, retried under contention, so no
//!   increment is lost.
//! - `SharedCount`: an `i32` that sessions read with its version and set only if nobody
//!   changed it since (`try_set`); a stale compare-and-set fails and changes nothing. Every
//!   change is also seen on a `changes()` stream.
//!
//! ```text
//! cargo run --example counter                                 # on the embedded server
//! ZK_CONNECT=zk1:2181,zk2:2181 cargo run --example counter    # or on your ensemble
//! ```
//!
//! Everything lives under `/counter-<pid>` and is deleted at the end. Exits non-zero if an
//! increment is lost or a stale compare-and-set gets through.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::timeout;
use zk_core::Client;
use zk_examples::{BoxError, Sandbox};
use zk_recipes::counter::{CountChanges, DistributedAtomicLong, SharedCount};

/// How long any one step may take before the example gives up.
const STEP: Duration = Duration::from_secs(20);
const WORKERS: usize = 4;
const INCREMENTS: usize = 5;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Where is ZooKeeper? The embedded server unless ZK_CONNECT names an ensemble (see
    // lib.rs). Everything lives under the example's own root, `/counter-<pid>`.
    let sandbox = Sandbox::create("counter").await?;
    // Every session is chrooted to the example's root: "/counters" is `<root>/counters`.
    let chrooted = &sandbox.chrooted;
    let mut sessions = Vec::new();
    for _ in 0..WORKERS {
        sessions.push(Client::connect(chrooted).await?);
    }

    atomic_long(&sessions).await?;
    shared_count(&sessions).await?;

    for s in sessions {
        s.close().await;
    }
    sandbox.remove().await?;
    println!("counter example complete");
    Ok(())
}

/// WORKERS sessions increment one DistributedAtomicLong INCREMENTS times each, all at once.
async fn atomic_long(sessions: &[Client]) -> Result<(), BoxError> {
    let mut tasks = Vec::new();
    for client in sessions {
        // The node (and its parents, as containers) is created by the first update.
        let hits = DistributedAtomicLong::new(client.clone(), "/counters/hits")?;
        tasks.push(tokio::spawn(async move {
            let mut attempts = 0;
            for _ in 0..INCREMENTS {
                let r = hits.increment().await?;
                // `succeeded: false` means the retry policy gave up under contention and
                // nothing was changed: the caller decides whether to try again.
                if !r.succeeded {
                    return Err(format!("increment gave up after {} attempts", r.attempts).into());
                }
                attempts += r.attempts;
            }
            Ok::<_, BoxError>(attempts)
        }));
    }
    let mut attempts = 0;
    for task in tasks {
        attempts += timeout(STEP, task).await???;
    }
    let total = DistributedAtomicLong::new(sessions[0].clone(), "/counters/hits")?.get().await?;
    let expected = (WORKERS * INCREMENTS) as i64;
    println!(
        "atomic long: {WORKERS} sessions x {INCREMENTS} increments -> {total} \
         ({attempts} attempts: {} lost a race and retried)",
        attempts as usize - WORKERS * INCREMENTS
    );
    if total != expected {
        return Err(format!("lost increments: {total}, expected {expected}").into());
    }
    Ok(())
}

/// Two sessions read a SharedCount at the same version; the first compare-and-set wins, the
/// stale one fails and must read again. A third session follows every change.
async fn shared_count(sessions: &[Client]) -> Result<(), BoxError> {
    let a = SharedCount::new(sessions[0].clone(), "/counters/workers", 0)?; // 0 if missing
    let b = SharedCount::new(sessions[1].clone(), "/counters/workers", 0)?;
    let watcher = SharedCount::new(sessions[2].clone(), "/counters/workers", 0)?;
    // The first read creates the node with the seed (as Curator's `SharedCount.start()`).
    let seen_by_a = a.versioned().await?;
    let mut changes = watcher.changes(); // the current value first, then each change
    seen(&mut changes, 0).await?;
    let seen_by_b = b.versioned().await?;
    println!("shared count: a and b both read {} at version {}", seen_by_a.value, seen_by_a.version);
    if !a.try_set(&seen_by_a, seen_by_a.value + 1).await? {
        return Err("a's compare-and-set failed, nobody else had written".into());
    }
    seen(&mut changes, 1).await?;
    // b's read is stale now: its compare-and-set fails and changes nothing.
    if b.try_set(&seen_by_b, seen_by_b.value + 10).await? {
        return Err("a stale compare-and-set got through".into());
    }
    println!("shared count: b's compare-and-set from version {} fails: stale", seen_by_b.version);
    // The usual loop: read again, compute, try again (bounded).
    for _ in 0..10 {
        let fresh = b.versioned().await?;
        if b.try_set(&fresh, fresh.value + 10).await? {
            println!(
                "shared count: b read {} at version {}, set {}",
                fresh.value,
                fresh.version,
                fresh.value + 10
            );
            break;
        }
    }
    seen(&mut changes, 11).await?;
    if watcher.get().await? != 11 {
        return Err("the count is not 11".into());
    }
    Ok(())
}

/// Waits for the change stream to show `value`.
async fn seen(changes: &mut CountChanges, value: i32) -> Result<(), BoxError> {
    let next = timeout(STEP, changes.next()).await?.ok_or("the change stream ended")??;
    println!("shared count: watcher sees {} (version {})", next.value, next.version);
    if next.value != value {
        return Err(format!("the watcher saw {}, expected {value}", next.value).into());
    }
    Ok(())
}
