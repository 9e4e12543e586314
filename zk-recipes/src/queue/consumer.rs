//! The consumers of a [`DistributedQueue`](super::DistributedQueue): [`AtMostOnce`] yields
//! items, [`AtLeastOnce`] yields [`Delivery`] guards.
//!
//! Both walk a sorted snapshot of the item nodes, trying each in turn (another consumer may
//! take it first), and list again when the snapshot is used up. With nothing to try they wait
//! on a children watch of the queue path — and, when every item is locked by someone else, on
//! one of the lock path too, since a lock given back does not change the queue's children.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use zk_core::path::{join, sequence_number};
use zk_core::Client;

use super::codec;
use super::common::MAX_ROUNDS;
use super::common::{
    delete_item, ensure_persistent, retrying, sorted_items, DirKind, Receipts, Rescue, Taken, MAYBE_TAKEN,
};
use super::delivery::{lock_item, Delivery};
use super::shared::{QueueShared, QUEUE_ITEM_PREFIX};
use crate::error::{Error, Result};
use crate::retry::Retries;

/// Where a consumer is in the queue: the snapshot still to try, the items found locked in
/// this pass and the unreadable items it skips.
#[derive(Debug)]
struct Cursor {
    shared: Arc<QueueShared>,
    snapshot: VecDeque<String>,
    busy: HashSet<String>,
    skip: HashSet<String>,
}

impl Cursor {
    fn new(shared: Arc<QueueShared>) -> Cursor {
        Cursor { shared, snapshot: VecDeque::new(), busy: HashSet::new(), skip: HashSet::new() }
    }

    fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The next item name to try, or `None` after a wake-up (the caller asks again).
    async fn next_name(&mut self) -> zk_core::Result<Option<String>> {
        if let Some(name) = self.snapshot.pop_front() {
            return Ok(Some(name));
        }
        self.refill().await.map(|()| None)
    }

    /// Lists the items again (with a watch); waits for a change when there is nothing new to
    /// try.
    async fn refill(&mut self) -> zk_core::Result<()> {
        let listed = self.client().get_children_and_watch(&self.shared.path).await;
        let (children, _, watcher) = match listed {
            Ok(r) => r,
            Err(zk_core::Error::NoNode) => return ensure_persistent(self.client(), &self.shared.path).await,
            Err(e) => return Err(e),
        };
        let candidates = sorted_items(children, QUEUE_ITEM_PREFIX, &self.skip);
        if candidates.is_empty() {
            self.busy.clear();
            return watcher.await.map(drop);
        }
        if candidates.iter().any(|c| !self.busy.contains(c)) {
            self.busy.clear();
            self.snapshot = candidates;
            return Ok(());
        }
        // Everything left is locked by others: wait for a lock to go or the queue to change.
        let (locks, lock_watcher) = match self.client().get_children_and_watch(&self.shared.lock_path).await {
            Ok((locks, _, w)) => (locks, Some(w)),
            Err(zk_core::Error::NoNode) => (Vec::new(), None),
            Err(e) => return Err(e),
        };
        self.busy.clear();
        let locks: HashSet<String> = locks.into_iter().collect();
        if candidates.iter().any(|c| !locks.contains(c)) {
            // A lock went meanwhile: try again at once.
            self.snapshot = candidates;
            return Ok(());
        }
        match lock_watcher {
            Some(lw) => tokio::select! {
                r = watcher => r.map(drop),
                r = lw => r.map(drop),
            },
            None => watcher.await.map(drop),
        }
    }
}

/// Retries a consumer's failed step (see [`Retries::absorb`]) or gives the error to yield; a
/// terminal ZooKeeper error (the only one mapped to [`Error::SessionEnded`]: a step's own
/// errors are [`Error::Malformed`] and [`Error::MaybeApplied`]) ends the stream, except a
/// session expiry on a client that renews its session: the consumer carries on there.
async fn absorb_step(retries: &mut Retries, client: &Client, e: Error, ended: &mut bool) -> Result<()> {
    if e == Error::Zk(zk_core::Error::SessionExpired) && !client.state().is_terminal() {
        tracing::debug!("queue consumer: the session expired; carrying on on the client's new one");
        retries.pause().await;
        return Ok(());
    }
    retries.absorb(e).await.inspect_err(|e| *ended |= matches!(e, Error::SessionEnded(_)))
}

/// One item taken from a [`DistributedQueue`](super::DistributedQueue) by an [`AtMostOnce`]
/// consumer; its node is already deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    data: Vec<u8>,
    node: String,
    sequence: i32,
}

impl QueueItem {
    /// The item's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The item's bytes, by value.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The path of the node it came from (`<path>/queue-<seq>`; the items of one
    /// `put_many` share it).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The node's sequence number: the server's order of the puts.
    pub fn sequence(&self) -> i32 {
        self.sequence
    }
}

/// An at-most-once consumer ([`DistributedQueue::at_most_once`](super::DistributedQueue::at_most_once)):
/// a [`Stream`] of the queue's items in sequence order (the items of a `put_many` node in
/// their put order). Each node is deleted before its items are yielded (get data, then delete
/// at that version: of several consumers racing for a node, exactly one gets it). The delete
/// goes in one transaction with an ephemeral receipt `<lock path>/taken-<uuid>`, so a take
/// whose reply is lost is settled by looking for the receipt: no item is lost or delivered
/// twice by a connection loss.
///
/// The stream waits on a children watch while the queue is empty. It never ends on its own,
/// except after yielding a terminal error.
///
/// # Errors
/// Yields [`Error::SessionEnded`] when the session ends for good: the client is closed, or
/// its session expires and the client was built not to renew it (then the stream ends; a
/// renewing client's consumer carries on on the new session). [`Error::MaybeApplied`] when a
/// node's delete was cut by a session expiry and the node is gone: taken by this consumer or
/// another, which can no longer be told; its `data` is the node's raw data (Curator's item
/// framing), and the stream goes on. [`Error::Malformed`] for a node not in Curator's item
/// format (it is left in place and skipped from then on); [`Error::Zk`] for other ZooKeeper
/// errors, after a bounded number of retries of retryable ones (polling again continues).
///
/// # Cancellation
/// Dropping a `next()` future loses nothing: the work in progress belongs to the stream and
/// resumes on the next poll. Dropping the stream while a node's delete is in flight puts that
/// node's items back (at the tail) if the delete was applied, and the not yet yielded items of
/// a `put_many` node are put back too, in the background. Only an item already yielded is
/// the caller's: if it dies before processing it, it is lost (that is "at most once").
pub struct AtMostOnce {
    inner: BoxStream<'static, Result<QueueItem>>,
}

impl std::fmt::Debug for AtMostOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtMostOnce").finish_non_exhaustive()
    }
}

impl AtMostOnce {
    pub(crate) fn new(shared: Arc<QueueShared>) -> AtMostOnce {
        let state = AtMostOnceState { cursor: Cursor::new(shared), buffer: VecDeque::new(), ended: false };
        let inner = futures::stream::unfold(state, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        });
        AtMostOnce { inner: inner.boxed() }
    }
}

impl Stream for AtMostOnce {
    type Item = Result<QueueItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

#[derive(Debug)]
struct AtMostOnceState {
    cursor: Cursor,
    /// Items of a taken node not yet yielded.
    buffer: VecDeque<QueueItem>,
    ended: bool,
}

impl AtMostOnceState {
    async fn next(&mut self) -> Option<Result<QueueItem>> {
        if let Some(item) = self.buffer.pop_front() {
            return Some(Ok(item));
        }
        if self.ended {
            return None;
        }
        let path = self.cursor.shared.path.clone();
        crate::observe::queue_take(&path, async { self.wait().await.transpose() }, Option::is_some)
            .await
            .transpose()
    }

    /// Waits for the next item of the queue.
    async fn wait(&mut self) -> Option<Result<QueueItem>> {
        let mut retries = Retries::new(&self.cursor.shared.client, "queue consumer");
        for _ in 0..MAX_ROUNDS {
            match self.step().await {
                Ok(()) => match self.buffer.pop_front() {
                    Some(item) => return Some(Ok(item)),
                    None => retries.reset(),
                },
                Err(e) => {
                    let client = self.cursor.shared.client.clone();
                    if let Err(e) = absorb_step(&mut retries, &client, e, &mut self.ended).await {
                        return Some(Err(e));
                    }
                }
            }
        }
        Some(Err(Error::RetriesExhausted("waiting for a queue item")))
    }

    /// Tries the next item; fills the buffer when it was ours.
    async fn step(&mut self) -> Result<()> {
        let Some(name) = self.cursor.next_name().await? else { return Ok(()) };
        let QueueShared { client, path, .. } = &*self.cursor.shared;
        let item = join(path, &name);
        let (data, stat) = match retrying(client, || client.get_data(&item)).await {
            Ok(r) => r,
            Err(zk_core::Error::NoNode) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let items = match codec::decode(&item, &data) {
            Ok(items) => items,
            Err(e) => {
                self.cursor.skip.insert(name);
                return Err(e);
            }
        };
        let receipts = Receipts { dir: &self.cursor.shared.lock_path, kind: DirKind::Persistent };
        let rescue = Rescue::new(client, path, QUEUE_ITEM_PREFIX, data.clone(), receipts);
        match delete_item(client, &item, Some(stat.version), rescue, receipts).await? {
            Taken::Ours => {
                let sequence = sequence_number(&name).unwrap_or_default();
                let taken = items.into_iter().map(|data| QueueItem { data, node: item.clone(), sequence });
                self.buffer.extend(taken);
            }
            Taken::NotOurs => {}
            Taken::Unknown => return Err(Error::MaybeApplied { what: MAYBE_TAKEN, data: Some(data) }),
        }
        Ok(())
    }
}

impl Drop for AtMostOnceState {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(lost = self.buffer.len(), "queue consumer dropped without a runtime: items lost");
            return;
        };
        let items: Vec<Vec<u8>> = self.buffer.drain(..).map(QueueItem::into_data).collect();
        let shared = self.cursor.shared.clone();
        rt.spawn(async move {
            let put = match codec::encode(&items) {
                Ok(data) => {
                    let receipts = Receipts { dir: &shared.lock_path, kind: DirKind::Persistent };
                    super::common::put_back(&shared.client, &shared.path, QUEUE_ITEM_PREFIX, &data, receipts)
                        .await
                        .map_err(Error::Zk)
                }
                Err(e) => Err(e),
            };
            if let Err(e) = put {
                tracing::warn!(lost = items.len(), error = %e, "queue consumer dropped: could not put items back");
            }
        });
    }
}

/// An at-least-once consumer ([`DistributedQueue::at_least_once`](super::DistributedQueue::at_least_once)):
/// a [`Stream`] of [`Delivery`] guards in sequence order, one per node.
///
/// Taking an item creates the ephemeral lock `<lock path>/queue-<seq>` (Curator's lock-path
/// mode); an item whose lock exists is skipped, so each item is held by one consumer at a
/// time. The item node is deleted only by [`Delivery::ack`]; until then a crash, a session
/// expiry, [`Delivery::release`] or dropping the guard gives it back to the queue, where it
/// keeps its place: a consumer takes it first when it next lists the queue (a consumer walks
/// through its last listing before listing again).
///
/// The stream waits on children watches while there is nothing to take (queue empty, or every
/// item locked by others). It never ends on its own, except after yielding a terminal error.
///
/// When the consumer's session expires on a client that renews it (zk-core's default), the
/// stream carries on on the new session: the locks of the old one died with it, so the items
/// it held are given back and come again (to this consumer or another), and the
/// [`Delivery`] guards of the old session can no longer be acknowledged
/// ([`Delivery::ack`] says [`Error::LockLost`]).
///
/// # Errors
/// As [`AtMostOnce`]: [`Error::SessionEnded`] (then the stream ends), [`Error::Malformed`]
/// (the node is unlocked, left in place and skipped from then on), [`Error::Zk`].
///
/// # Cancellation
/// Dropping a `next()` future loses nothing (the work in progress belongs to the stream).
/// Dropping the stream while it is locking an item deletes that lock in the background, so
/// the item is given back; a [`Delivery`] already yielded lives on independently.
pub struct AtLeastOnce {
    inner: BoxStream<'static, Result<Delivery>>,
}

impl std::fmt::Debug for AtLeastOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtLeastOnce").finish_non_exhaustive()
    }
}

impl AtLeastOnce {
    pub(crate) fn new(shared: Arc<QueueShared>) -> AtLeastOnce {
        let state = AtLeastOnceState { cursor: Cursor::new(shared), ended: false };
        let inner = futures::stream::unfold(state, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        });
        AtLeastOnce { inner: inner.boxed() }
    }
}

impl Stream for AtLeastOnce {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

#[derive(Debug)]
struct AtLeastOnceState {
    cursor: Cursor,
    ended: bool,
}

impl AtLeastOnceState {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        if self.ended {
            return None;
        }
        let path = self.cursor.shared.path.clone();
        crate::observe::queue_take(&path, async { self.wait().await.transpose() }, Option::is_some)
            .await
            .transpose()
    }

    /// Waits for the next delivery of the queue.
    async fn wait(&mut self) -> Option<Result<Delivery>> {
        let mut retries = Retries::new(&self.cursor.shared.client, "queue consumer");
        for _ in 0..MAX_ROUNDS {
            match self.step().await {
                Ok(Some(delivery)) => return Some(Ok(delivery)),
                Ok(None) => retries.reset(),
                Err(e) => {
                    let client = self.cursor.shared.client.clone();
                    if let Err(e) = absorb_step(&mut retries, &client, e, &mut self.ended).await {
                        return Some(Err(e));
                    }
                }
            }
        }
        Some(Err(Error::RetriesExhausted("waiting for a queue item")))
    }

    /// Tries to lock and read the next item.
    async fn step(&mut self) -> Result<Option<Delivery>> {
        let Some(name) = self.cursor.next_name().await? else { return Ok(None) };
        let shared = self.cursor.shared.clone();
        let Some(lock) = lock_item(&shared, &name).await? else {
            self.cursor.busy.insert(name);
            return Ok(None);
        };
        let item = join(&shared.path, &name);
        let data = match retrying(&shared.client, || shared.client.get_data(&item)).await {
            Ok((data, _)) => data,
            Err(zk_core::Error::NoNode) => {
                // Taken and acknowledged by someone else after we listed it.
                lock.release().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        match codec::decode(&item, &data) {
            Ok(items) => Ok(Some(Delivery::new(items, data, item, lock, shared))),
            Err(e) => {
                self.cursor.skip.insert(name);
                lock.release().await?;
                Err(e)
            }
        }
    }
}
