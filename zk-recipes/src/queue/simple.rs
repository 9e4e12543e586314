//! [`SimpleDistributedQueue`]: ZooKeeper's classic queue recipe, as Curator's
//! `SimpleDistributedQueue`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use zk_core::path::{join, validate_path};
use zk_core::Client;

use super::common::MAX_ROUNDS;
use super::common::{
    create_item, delete_item, ensure_dir, retrying, sorted_items, DirKind, Receipts, Rescue, Taken,
    MAYBE_TAKEN,
};
use crate::deadline::deadline_after;
use crate::error::{Error, Result};
use crate::retry::Retries;

/// The name prefix of item nodes: `<path>/qn-<seq>` (ZooKeeper's and Curator's).
pub const SIMPLE_ITEM_PREFIX: &str = "qn-";

/// ZooKeeper's classic distributed queue, data-compatible with Curator's
/// `SimpleDistributedQueue` and with the recipe in ZooKeeper's distribution: each item is a
/// persistent-sequential node `<path>/qn-<seq>` holding the item's bytes as they are; `<path>`
/// and its parents are containers, created when missing.
///
/// Taking the head reads the oldest node and deletes it; when another consumer deleted it
/// first, the next one is tried. Items are taken in sequence (FIFO) order. Each item is
/// delivered at most once: there is no lock, so a consumer that dies after taking an item
/// loses it (use [`DistributedQueue::at_least_once`](super::DistributedQueue::at_least_once)
/// when that matters). [`take`](Self::take) waits on a children watch, never by polling.
///
/// # Session events
///
/// Disconnected: operations wait for the reconnection (retryable errors are retried a bounded
/// number of times). Expired: operations fail ([`Error::SessionEnded`] for a waiting `take`).
/// A take whose transaction was in flight (or whose reply was lost) when the session expired
/// is settled on the client's new session when the item is still there; when it is gone, it
/// may have been this take or another consumer's, which can no longer be told: the call
/// fails with [`Error::MaybeApplied`], which holds the item's bytes. An item is never dropped
/// silently.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zk_recipes::queue::SimpleDistributedQueue;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let queue = SimpleDistributedQueue::new(server.client().await?, "/tasks")?;
/// assert_eq!(queue.poll().await?, None);
/// queue.offer(b"a").await?;
/// queue.offer(b"b").await?;
/// assert_eq!(queue.peek().await?, Some(b"a".to_vec()));
/// assert_eq!(queue.take().await?, b"a");
/// assert_eq!(queue.poll().await?, Some(b"b".to_vec()));
/// assert_eq!(queue.take_timeout(Duration::from_millis(100)).await?, None);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SimpleDistributedQueue {
    client: Client,
    path: String,
}

impl SimpleDistributedQueue {
    /// A queue at `path` (nothing is created until used).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        validate_path(path)?;
        Ok(SimpleDistributedQueue { client, path: path.to_owned() })
    }

    /// The queue path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Adds `data` at the tail and returns its node's path. Empty data is a valid item.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `data` is too large for one node (about 1 MiB, the
    /// server's default `jute.maxbuffer`); [`Error::Zk`] for ZooKeeper errors. A retryable one
    /// means the item may or may not have been added: it is not retried here, because a retry
    /// could add it twice.
    ///
    /// # Cancellation
    /// Dropping the future after the create was sent may still add the item.
    pub async fn offer(&self, data: &[u8]) -> Result<String> {
        create_item(&self.client, &self.path, SIMPLE_ITEM_PREFIX, data, DirKind::Container).await
    }

    /// Removes and returns the head, or `None` when the queue is empty. Does not wait.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (retryable ones are retried a bounded number of
    /// times first); [`Error::MaybeApplied`] (with the item's bytes) when the session ended
    /// after the reply of the head's delete was lost and the item is gone.
    ///
    /// # Cancellation
    /// Dropped while the head's delete is in flight, the item is put back at the tail (in the
    /// background) if the delete was applied, or may have been: nothing is lost, but its place
    /// is.
    pub async fn poll(&self) -> Result<Option<Vec<u8>>> {
        self.head(true, &AtomicBool::new(false)).await
    }

    /// The head without removing it, or `None` when the queue is empty.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (retryable ones are retried a bounded number of
    /// times first).
    ///
    /// # Cancellation
    /// Safe to drop: it only reads.
    pub async fn peek(&self) -> Result<Option<Vec<u8>>> {
        self.head(false, &AtomicBool::new(false)).await
    }

    /// Removes and returns the head, waiting (on a children watch) until there is one.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the session expires or the client is closed while
    /// waiting; [`Error::MaybeApplied`] (with the item's bytes) when it ended after the reply
    /// of the head's delete was lost and the item is gone (as [`poll`](Self::poll));
    /// [`Error::Zk`] for other ZooKeeper errors (retryable ones are retried a bounded number
    /// of times first).
    ///
    /// # Cancellation
    /// As [`poll`](Self::poll): safe to drop while waiting; dropped mid-delete, the item is
    /// put back at the tail.
    pub async fn take(&self) -> Result<Vec<u8>> {
        crate::observe::queue_take(&self.path, self.take_loop(&AtomicBool::new(false)), |_| true).await
    }

    /// Like [`take`](Self::take), but waits at most `timeout` (tokio time): `None` when it
    /// ran out. A zero timeout still looks once, like [`poll`](Self::poll).
    ///
    /// The deadline bounds the wait, the reads and their retries. A take whose delete was
    /// sent when the deadline came is seen through first (bounded by the client's retry
    /// policy), so that its item is returned rather than put back: then the call returns a
    /// little after the deadline, with the item (or [`Error::MaybeApplied`]). `None` always
    /// means that nothing was taken.
    ///
    /// # Errors
    /// As [`take`](Self::take).
    ///
    /// # Cancellation
    /// As [`take`](Self::take).
    pub async fn take_timeout(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        crate::observe::queue_take(&self.path, self.take_by(timeout), Option::is_some).await
    }

    async fn take_by(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        if timeout.is_zero() {
            return self.poll().await;
        }
        let committing = AtomicBool::new(false);
        let take = self.take_loop(&committing);
        // Past what the clock can hold: no deadline in practice.
        let Some(deadline) = deadline_after(timeout) else {
            return take.await.map(Some);
        };
        let mut take = std::pin::pin!(take);
        if let Ok(taken) = tokio::time::timeout_at(deadline, take.as_mut()).await {
            return taken.map(Some);
        }
        // Out of time. Stopped between deletes, the take holds nothing and is dropped; with a
        // delete in flight, it is finished here, so that the item comes back to this caller
        // (a `Rescue` would put it back at the tail) or an error says what became of it.
        std::future::poll_fn(|cx| match take.as_mut().poll(cx) {
            Poll::Ready(taken) => Poll::Ready(taken.map(Some)),
            Poll::Pending if committing.load(Ordering::SeqCst) => Poll::Pending,
            Poll::Pending => Poll::Ready(Ok(None)),
        })
        .await
    }

    /// The number of items now. For monitoring: it may be stale as soon as it returns.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (retryable ones are retried a bounded number of
    /// times first).
    ///
    /// # Cancellation
    /// Safe to drop: it only reads.
    pub async fn len(&self) -> Result<usize> {
        match retrying(&self.client, || self.client.get_children(&self.path)).await {
            Ok(children) => Ok(sorted_items(children, SIMPLE_ITEM_PREFIX, &Default::default()).len()),
            Err(zk_core::Error::NoNode) => Ok(0),
            Err(e) => Err(Error::Zk(e)),
        }
    }

    /// True when the queue has no items now (see [`len`](Self::len)).
    ///
    /// # Errors
    /// As [`len`](Self::len).
    ///
    /// # Cancellation
    /// Safe to drop: it only reads.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// The head's data, removed first when `remove` (`committing` is set while its delete
    /// is in flight).
    async fn head(&self, remove: bool, committing: &AtomicBool) -> Result<Option<Vec<u8>>> {
        match retrying(&self.client, || self.client.get_children(&self.path)).await {
            Ok(children) => self.first_of(children, remove, committing).await,
            Err(zk_core::Error::NoNode) => Ok(None),
            Err(e) => Err(Error::Zk(e)),
        }
    }

    /// The data of the first item of `children` that still exists (and that we deleted,
    /// when `remove`; `committing` is set while a delete is in flight).
    async fn first_of(
        &self,
        children: Vec<String>,
        remove: bool,
        committing: &AtomicBool,
    ) -> Result<Option<Vec<u8>>> {
        for name in sorted_items(children, SIMPLE_ITEM_PREFIX, &Default::default()) {
            let item = join(&self.path, &name);
            let data = match retrying(&self.client, || self.client.get_data(&item)).await {
                Ok((data, _)) => data,
                Err(zk_core::Error::NoNode) => continue,
                Err(e) => return Err(Error::Zk(e)),
            };
            if !remove {
                return Ok(Some(data));
            }
            let receipts = Receipts { dir: &self.path, kind: DirKind::Container };
            let rescue = Rescue::new(&self.client, &self.path, SIMPLE_ITEM_PREFIX, data.clone(), receipts);
            committing.store(true, Ordering::SeqCst);
            let taken = delete_item(&self.client, &item, None, rescue, receipts).await;
            committing.store(false, Ordering::SeqCst);
            match taken? {
                Taken::Ours => return Ok(Some(data)),
                Taken::NotOurs => {}
                Taken::Unknown => return Err(Error::MaybeApplied { what: MAYBE_TAKEN, data: Some(data) }),
            }
        }
        Ok(None)
    }

    /// Takes the head, waiting as long as it takes (`committing` is set while a delete is in
    /// flight).
    async fn take_loop(&self, committing: &AtomicBool) -> Result<Vec<u8>> {
        let mut retries = Retries::new(&self.client, "simple queue take");
        for _ in 0..MAX_ROUNDS {
            match self.take_round(committing).await {
                Ok(Some(data)) => return Ok(data),
                Ok(None) => retries.reset(),
                Err(e) => retries.absorb(e).await?,
            }
        }
        Err(Error::RetriesExhausted("waiting for a queue item"))
    }

    /// One look: `Some(data)` taken, `None` look again (the children changed).
    async fn take_round(&self, committing: &AtomicBool) -> Result<Option<Vec<u8>>> {
        let (children, _, watcher) = match self.client.get_children_and_watch(&self.path).await {
            Ok(r) => r,
            Err(zk_core::Error::NoNode) => {
                ensure_dir(&self.client, &self.path, DirKind::Container).await?;
                return Ok(None);
            }
            Err(e) => return Err(Error::Zk(e)),
        };
        if let Some(data) = self.first_of(children, true, committing).await? {
            return Ok(Some(data));
        }
        watcher.await.map(|_| None).map_err(Error::Zk)
    }
}
