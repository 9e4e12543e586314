//! A work queue: producers put jobs in a `DistributedQueue` (Curator's layout: one
//! persistent-sequential node per item), consumers take them **at least once**: taking an item
//! locks it with an ephemeral node, and the item is deleted only when the consumer acks it. A
//! consumer that dies mid-item (its session ends) loses its lock, so the item goes back to the
//! queue, at its place, and another consumer processes it. Nothing is lost; an item may be
//! processed twice if a consumer dies after doing the work but before acking, so make the work
//! idempotent. (`at_most_once()` is the other mode: delete first, then deliver.)
//!
//! ```text
//! cargo run --example work_queue                                 # on the embedded server
//! ZK_CONNECT=zk1:2181,zk2:2181 cargo run --example work_queue    # or on your ensemble
//! ```
//!
//! Everything lives under `/work-queue-<pid>` and is deleted at the end. Exits non-zero if an
//! item is lost, acked twice, or left in the queue.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::timeout;
use zk_core::Client;
use zk_examples::{BoxError, Sandbox};
use zk_recipes::queue::DistributedQueue;

/// How long any one step may take before the example gives up.
const STEP: Duration = Duration::from_secs(20);
const PRODUCERS: usize = 2;
const JOBS_PER_PRODUCER: usize = 4;
/// The queue's path (below the example's chroot).
const QUEUE: &str = "/jobs";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Where is ZooKeeper? The embedded server unless ZK_CONNECT names an ensemble (see
    // lib.rs). Everything lives under the example's own root, `/work-queue-<pid>`.
    let sandbox = Sandbox::create("work-queue").await?;
    // Every session is chrooted to the example's root: the queue is `<root>/jobs`.
    let chrooted = &sandbox.chrooted;
    let (admin, root) = (&sandbox.admin, &sandbox.root);

    // Producers, each its own session (its own process, in real life), put their jobs.
    let mut expected = BTreeSet::new();
    for p in 1..=PRODUCERS {
        let producer = Client::connect(chrooted).await?;
        let queue = DistributedQueue::new(producer.clone(), QUEUE)?; // creates the path if needed
        for j in 1..=JOBS_PER_PRODUCER {
            let job = format!("p{p}-job{j}");
            let node = queue.put(job.as_bytes()).await?;
            println!("producer {p}: put {job} as {node}");
            expected.insert(job);
        }
        producer.close().await; // the items stay: they are persistent nodes
    }

    // A consumer takes the first job and dies before acking it: its process exits, its session
    // ends, its ephemeral lock goes, and the job is back in the queue at its place.
    let doomed = Client::connect(chrooted).await?;
    let mut stream = DistributedQueue::new(doomed.clone(), QUEUE)?.at_least_once();
    let delivery = timeout(STEP, stream.next()).await?.ok_or("the queue stream ended")??;
    let abandoned = String::from_utf8_lossy(&delivery.items()[0]).into_owned();
    println!("consumer doomed: took {abandoned} (locked by {}), and dies", delivery.lock_node());
    let lock = format!("{root}{}", delivery.lock_node());
    doomed.close().await;
    drop((delivery, stream));
    if admin.exists(&lock).await?.is_some() {
        return Err("the dead consumer's lock outlived its session".into());
    }

    // Two healthy consumers share the rest, including the abandoned job.
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let mut consumers = Vec::new();
    for name in ["a", "b"] {
        let client = Client::connect(chrooted).await?;
        let mut items = DistributedQueue::new(client.clone(), QUEUE)?.at_least_once();
        let done_tx = done_tx.clone();
        consumers.push((
            client,
            tokio::spawn(async move {
                // Bounded: main stops the consumers once every job is acked.
                for _ in 0..PRODUCERS * JOBS_PER_PRODUCER {
                    let Some(delivery) = items.next().await else { break };
                    let delivery = delivery?;
                    let job = String::from_utf8_lossy(&delivery.items()[0]).into_owned();
                    // The work itself.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    // Done: ack deletes the item. Without an ack (an error, a panic, a crash)
                    // the item is given back instead; `requeue()` moves it to the tail.
                    delivery.ack().await?;
                    if done_tx.send((name, job)).is_err() {
                        break;
                    }
                }
                Ok::<_, BoxError>(())
            }),
        ));
    }
    let mut processed = BTreeSet::new();
    while processed.len() < expected.len() {
        let (name, job) = timeout(STEP, done.recv()).await?.ok_or("the consumers stopped early")?;
        let again = if job == abandoned { " (redelivered: its first taker died)" } else { "" };
        println!("consumer {name}: processed and acked {job}{again}");
        if !processed.insert(job.clone()) {
            return Err(format!("{job} was acked twice").into());
        }
    }
    if processed != expected {
        return Err(format!("processed {processed:?}, expected {expected:?}").into());
    }
    let left = DistributedQueue::new(admin.clone(), &format!("{root}{QUEUE}"))?.node_count().await?;
    println!(
        "all {} jobs processed exactly once, {abandoned} after a consumer died; {left} left",
        expected.len()
    );
    if left != 0 {
        return Err(format!("{left} items left in the queue").into());
    }

    // Clean up: stop the consumers (one waiting for work gives nothing up when dropped), then
    // delete the example's nodes.
    for (client, task) in consumers {
        task.abort();
        client.close().await;
    }
    sandbox.remove().await?;
    println!("work_queue example complete");
    Ok(())
}
