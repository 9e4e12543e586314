//! Integration tests of the queues, against zk-testing's embedded server on a paused clock
//! (and the key scenarios on both backends).

mod at_least_once;
mod at_most_once;
mod curator_mix;
mod on_backends;
mod simple;
#[path = "../support/mod.rs"]
mod support;

pub(crate) use support::{client, server, settle};

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinHandle;
use zk_core::Client;
use zk_recipes::queue::DistributedQueue;
use zk_testing::TestServer;

/// Per consumer, the `(sequence, payload)` of each item it took, in order.
pub(crate) type Logs = Arc<Mutex<Vec<Vec<(i32, String)>>>>;

/// Wraps a future and counts how often it is polled: a consumer waiting on a watch is polled
/// a handful of times, one that polls the server is woken by every reply.
pub(crate) struct Polls<F> {
    inner: Pin<Box<F>>,
    count: Arc<AtomicUsize>,
}

impl<F: Future> Polls<F> {
    pub(crate) fn new(inner: F) -> (Self, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        (Polls { inner: Box::pin(inner), count: count.clone() }, count)
    }
}

impl<F: Future> Future for Polls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

/// The item nodes (`queue-`/`qn-` children) of a queue directory on the embedded server.
pub(crate) fn queue_items(server: &TestServer, dir: &str) -> Vec<String> {
    let is_item = |c: &String| {
        let name = c.rsplit('/').next().unwrap_or_default();
        name.starts_with("queue-") || name.starts_with("qn-")
    };
    server.children(dir).into_iter().filter(is_item).collect()
}

/// Puts `items` items (`"0"`, `"1"`, ...) in the queue at `path`, turns on seeded chaos
/// (dropped connections, lost replies, random delays) and returns three handles on the queue,
/// each on its own session, for the consumers.
pub(crate) async fn chaos_queue(
    server: &TestServer,
    path: &str,
    items: usize,
) -> Vec<zk_recipes::queue::DistributedQueue> {
    use zk_recipes::queue::DistributedQueue;
    let producer = DistributedQueue::new(client(server).await, path).unwrap();
    for i in 0..items {
        producer.put(format!("{i}").as_bytes()).await.unwrap();
    }
    server.set_chaos(Some(zk_testing::Chaos {
        drop_connection: 0.02,
        lose_reply: 0.02,
        max_latency: std::time::Duration::from_millis(2),
    }));
    let mut queues = Vec::new();
    for _ in 0..3 {
        queues.push(DistributedQueue::new(client(server).await, path).unwrap());
    }
    queues
}

/// Spawns `n` producers on the queue at `path`, each on its own client from `connect`:
/// producer `p` puts `items` items `p<p>-<i>`, in order.
pub(crate) async fn spawn_producers<F: Future<Output = Client>>(
    n: usize,
    items: usize,
    path: &str,
    mut connect: impl FnMut() -> F,
) -> Vec<JoinHandle<()>> {
    let mut producers = Vec::new();
    for p in 0..n {
        let queue = DistributedQueue::new(connect().await, path).unwrap();
        producers.push(tokio::spawn(async move {
            for i in 0..items {
                queue.put(format!("p{p}-{i}").as_bytes()).await.expect("put");
            }
        }));
    }
    producers
}

/// Spawns `n` at-most-once consumers of the queue at `path`, each on its own client from
/// `connect`: consumer `c` logs every item it takes into `c`'s slot of the returned logs, then
/// takes `processing` (if any) as if it worked on the item.
pub(crate) async fn spawn_consumers<F: Future<Output = Client>>(
    n: usize,
    path: &str,
    mut connect: impl FnMut() -> F,
    processing: Option<Duration>,
) -> (Logs, Vec<JoinHandle<()>>) {
    let logs: Logs = Arc::new(Mutex::new(vec![Vec::new(); n]));
    let mut consumers = Vec::new();
    for c in 0..n {
        let queue = DistributedQueue::new(connect().await, path).unwrap();
        let logs = logs.clone();
        consumers.push(tokio::spawn(async move {
            let mut items = queue.at_most_once();
            while let Some(item) = items.next().await {
                let item = item.expect("consume");
                let payload = String::from_utf8(item.data().to_vec()).unwrap();
                logs.lock().unwrap()[c].push((item.sequence(), payload));
                if let Some(processing) = processing {
                    tokio::time::sleep(processing).await;
                }
            }
        }));
    }
    (logs, consumers)
}
