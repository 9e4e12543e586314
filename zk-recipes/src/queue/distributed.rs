//! [`DistributedQueue`]: Curator's `DistributedQueue` layout, with an at-most-once and an
//! at-least-once consumer.

use std::sync::Arc;

use zk_core::path::{join, validate_path};
use zk_core::Client;

use super::codec;
use super::common::{check_size, create_item, retrying, sorted_items, DirKind};
use super::consumer::{AtLeastOnce, AtMostOnce};
use super::shared::{QueueShared, DEFAULT_LOCK_CHILD, QUEUE_ITEM_PREFIX};
#[cfg(doc)]
use super::{Delivery, QueueItem};
use crate::error::{Error, Result};

/// A FIFO queue of byte items that interoperates with Apache Curator's `DistributedQueue`
/// (with the identity `QueueSerializer`, i.e. items are `byte[]`).
///
/// # Layout
///
/// - Each put is one persistent-sequential node `<path>/queue-<seq>`; its data is Curator's
///   `ItemSerializer` framing (version `0x00010001`, then `0x01` + big-endian length + bytes
///   per item, then `0x02`), so [`put_many`](Self::put_many) stores several items in one node
///   exactly as Curator's `putMulti` does. Items are consumed in sequence order.
/// - `<path>` is created persistent when missing (its parents as containers), as Curator does.
/// - At-least-once consumers lock an item by creating the ephemeral node
///   `<lock path>/queue-<seq>` (Curator's `QueueBuilder.lockPath`); the lock path defaults to
///   `<path>/lock` ([`with_lock_path`](Self::with_lock_path) sets another, e.g. the one a
///   Curator consumer uses). Other children of `<path>` are ignored.
///
/// # Consumers
///
/// - [`at_most_once`](Self::at_most_once): a stream of [`QueueItem`]s; each node is deleted
///   before its items are yielded (Curator without a lock path). An item is never delivered
///   twice; one whose consumer dies after taking it is lost.
/// - [`at_least_once`](Self::at_least_once): a stream of [`Delivery`] guards; the item node
///   stays while it is locked, and is deleted only by [`Delivery::ack`]. A dropped guard,
///   [`Delivery::release`] or the consumer's session ending gives it back to the queue at its
///   place (a consumer takes it first when it next lists the queue). An item is processed at least once; twice only when a
///   consumer's session ends while it holds the item.
///
/// All consumers of one queue must use the same mode: an at-most-once consumer ignores locks.
/// Many producers and consumers may share a queue, each on its own session or on one. Each
/// consumer sees items in sequence order; with several consumers, the items are spread over
/// them (use one consumer for a strict global order). A consumer with nothing to take waits on
/// a children watch (no polling).
///
/// # Session events
///
/// Disconnected: operations wait for the reconnection (retryable errors are retried a bounded
/// number of times); watches are re-registered by the client. Expired: a held [`Delivery`]
/// is given back by the server (its lock was ephemeral) and its `ack` fails with
/// [`Error::LockLost`]; on a client that renews its session, consumers carry on on the new
/// one (see the [module docs](super#session-expiry)), otherwise they yield
/// [`Error::SessionEnded`] and end.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use zk_recipes::queue::DistributedQueue;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let producer = DistributedQueue::new(server.client().await?, "/jobs")?;
/// producer.put(b"first").await?;
/// producer.put_many(&[&b"second"[..], b"third"]).await?;
///
/// let queue = DistributedQueue::new(server.client().await?, "/jobs")?;
/// // At least once: the item is deleted only when acknowledged.
/// let mut deliveries = queue.at_least_once();
/// let job = deliveries.next().await.unwrap()?;
/// assert_eq!(job.items(), [b"first".to_vec()]);
/// job.ack().await?;
///
/// // At most once: the node is deleted, then its items are yielded one by one.
/// let mut items = queue.at_most_once();
/// assert_eq!(items.next().await.unwrap()?.data(), b"second");
/// assert_eq!(items.next().await.unwrap()?.data(), b"third");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DistributedQueue {
    shared: Arc<QueueShared>,
}

impl DistributedQueue {
    /// A queue at `path` with the lock path `<path>/lock` (nothing is created until used).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        validate_path(path)?;
        let lock_path = join(path, DEFAULT_LOCK_CHILD);
        Ok(DistributedQueue { shared: Arc::new(QueueShared { client, path: path.to_owned(), lock_path }) })
    }

    /// Uses `lock_path` for the at-least-once locks (Curator's `QueueBuilder.lockPath`).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `lock_path` is not a valid
    /// path; [`Error::InvalidArgument`] when it is the queue path itself.
    pub fn with_lock_path(self, lock_path: &str) -> Result<Self> {
        validate_path(lock_path)?;
        if lock_path == self.shared.path {
            return Err(Error::InvalidArgument("the lock path must differ from the queue path".into()));
        }
        let QueueShared { client, path, .. } = &*self.shared;
        let shared =
            QueueShared { client: client.clone(), path: path.clone(), lock_path: lock_path.to_owned() };
        Ok(DistributedQueue { shared: Arc::new(shared) })
    }

    /// The queue path.
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// The lock path of at-least-once consumers.
    pub fn lock_path(&self) -> &str {
        &self.shared.lock_path
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// Adds one item at the tail and returns its node's path.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the item is too large for one node (about 1 MiB, the
    /// server's default `jute.maxbuffer`); [`Error::Zk`] for ZooKeeper errors. A retryable one
    /// ([`zk_core::Error::ConnectionLoss`], ...) means the item may or may not have been added:
    /// it is not retried here, because a retry could add it twice.
    ///
    /// # Cancellation
    /// Dropping the future after the create was sent may still add the item.
    pub async fn put(&self, item: &[u8]) -> Result<String> {
        self.put_many(&[item]).await
    }

    /// Adds several items in one node (Curator's `putMulti`), atomically: consumers get them
    /// together and in this order. Returns the node's path.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `items` is empty or too large for one node; otherwise as
    /// [`put`](Self::put).
    ///
    /// # Cancellation
    /// As [`put`](Self::put).
    pub async fn put_many<I: AsRef<[u8]>>(&self, items: &[I]) -> Result<String> {
        if items.is_empty() {
            return Err(Error::InvalidArgument("put_many needs at least one item".into()));
        }
        check_size(&self.shared.path, codec::encoded_len(items))?;
        let data = codec::encode(items)?;
        let QueueShared { client, path, .. } = &*self.shared;
        create_item(client, path, QUEUE_ITEM_PREFIX, &data, DirKind::Persistent).await
    }

    /// The number of item nodes in the queue now (a node from `put_many` counts once),
    /// including locked ones. For monitoring: it may be stale as soon as it returns.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (retryable ones are retried a bounded number of
    /// times first).
    ///
    /// # Cancellation
    /// Safe to drop: it only reads.
    pub async fn node_count(&self) -> Result<usize> {
        let QueueShared { client, path, .. } = &*self.shared;
        match retrying(client, || client.get_children(path)).await {
            Ok(children) => Ok(sorted_items(children, QUEUE_ITEM_PREFIX, &Default::default()).len()),
            Err(zk_core::Error::NoNode) => Ok(0),
            Err(e) => Err(Error::Zk(e)),
        }
    }

    /// An at-most-once consumer: a stream of items in sequence order, each node deleted
    /// before its items are yielded. See [`AtMostOnce`].
    pub fn at_most_once(&self) -> AtMostOnce {
        AtMostOnce::new(self.shared.clone())
    }

    /// An at-least-once consumer: a stream of locked items ([`Delivery`] guards) in sequence
    /// order. See [`AtLeastOnce`].
    pub fn at_least_once(&self) -> AtLeastOnce {
        AtLeastOnce::new(self.shared.clone())
    }
}
