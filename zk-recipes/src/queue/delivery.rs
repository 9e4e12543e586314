//! [`Delivery`]: an item locked by an at-least-once consumer, and the lock itself (an
//! ephemeral `<lock path>/queue-<seq>` holding a random token, so that our lock is told from
//! another's after a lost reply).

use std::sync::Arc;

use zk_core::path::{join, parent, sequence_number};
use zk_core::{Client, CreateMode, Op};

use super::common::{ensure_persistent, retrying};
use super::shared::{QueueShared, QUEUE_ITEM_PREFIX};
use crate::error::{Error, Result};
use crate::protected::Cleanup;
use crate::retry::Retries;

/// Creates our lock on item `name`: `None` when someone else holds it.
pub(super) async fn lock_item(shared: &QueueShared, name: &str) -> zk_core::Result<Option<LockNode>> {
    let client = &shared.client;
    let path = join(&shared.lock_path, name);
    // The token tells our lock from another's after a lost reply (a session may run several
    // consumers, so the ephemeral owner is not enough).
    let token = uuid::Uuid::new_v4().to_string().into_bytes();
    let node = LockNode::new(client, path, token);
    let mut maybe_created = false;
    let mut retries = Retries::new(client, "queue item lock");
    // Bounded by the client's retry policy: each failed pass takes one of its delays.
    loop {
        // A request answered was served in the session of the epoch it was sent in (zk-core
        // fails the requests of a session that expired): an answer that shows our node alive
        // dates it.
        let epoch = client.status().epoch;
        match client.create(&node.path, &node.token, CreateMode::Ephemeral).await {
            Ok(_) => return Ok(Some(node.in_epoch(epoch))),
            Err(zk_core::Error::NodeExists) if maybe_created => {
                let epoch = client.status().epoch;
                match retrying(client, || client.get_data(&node.path)).await {
                    Ok((data, _)) if data == node.token && !client.status().has_ended(epoch) => {
                        return Ok(Some(node.in_epoch(epoch)))
                    }
                    // Ours, but from a session that ended since: it is gone now.
                    Ok((data, _)) if data == node.token => maybe_created = false,
                    Ok(_) => return Ok(node.disarm()),
                    // It went meanwhile: try to create it again.
                    Err(zk_core::Error::NoNode) => maybe_created = false,
                    Err(e) => return Err(e),
                }
            }
            Err(zk_core::Error::NodeExists) => return Ok(node.disarm()),
            Err(zk_core::Error::NoNode) => ensure_persistent(client, &shared.lock_path).await?,
            Err(e) => {
                maybe_created |= e.is_retryable();
                retries.wait(e).await?;
            }
        }
    }
}

/// Our ephemeral lock on an item; deleted (if still ours) when released or dropped.
#[derive(Debug)]
pub(super) struct LockNode {
    path: String,
    token: Vec<u8>,
    /// The session epoch the node lives in: it dies with that session.
    epoch: u64,
    /// Armed while the lock may be ours: deletes it (if it holds our token) in the background
    /// when dropped.
    cleanup: Cleanup,
}

impl LockNode {
    fn new(client: &Client, path: String, token: Vec<u8>) -> LockNode {
        let cleanup = Cleanup::for_node_holding(client, &path, &token);
        LockNode { path, token, epoch: 0, cleanup }
    }

    /// Created in the session of epoch `epoch`.
    fn in_epoch(mut self, epoch: u64) -> LockNode {
        self.epoch = epoch;
        self
    }

    /// Not ours after all: forget it.
    fn disarm<T>(self) -> Option<T> {
        self.cleanup.disarm();
        None
    }

    /// Deletes the lock now (a session that ended took it already). Dropped midway, the
    /// delete continues in the background.
    pub(super) async fn release(self) -> zk_core::Result<()> {
        match self.cleanup.run().await {
            Err(e) if e.is_terminal() => Ok(()),
            r => r,
        }
    }
}

/// An item node locked by an [`AtLeastOnce`](super::AtLeastOnce) consumer: process its items, then
/// [`ack`](Self::ack) to delete it. Dropping the guard (or [`release`](Self::release)) gives
/// the item back to the queue at its place; [`requeue`](Self::requeue) moves it to the tail
/// (Curator's `ErrorMode.REQUEUE`).
///
/// While the guard lives, no other at-least-once consumer takes the item — unless this
/// session ends: then the lock is gone, another consumer may process the item, and `ack`
/// fails with [`Error::LockLost`].
#[derive(Debug)]
pub struct Delivery {
    items: Vec<Vec<u8>>,
    /// The node's raw data, for a requeue.
    data: Vec<u8>,
    node: String,
    sequence: i32,
    lock: LockNode,
    shared: Arc<QueueShared>,
}

impl Delivery {
    pub(super) fn new(
        items: Vec<Vec<u8>>,
        data: Vec<u8>,
        node: String,
        lock: LockNode,
        shared: Arc<QueueShared>,
    ) -> Delivery {
        let sequence = node.rsplit('/').next().and_then(sequence_number).unwrap_or_default();
        Delivery { items, data, node, sequence, lock, shared }
    }

    /// The node's items (one for a `put`, several for a `put_many`), in put order.
    pub fn items(&self) -> &[Vec<u8>] {
        &self.items
    }

    /// The item node's path (`<path>/queue-<seq>`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The node's sequence number: the server's order of the puts.
    pub fn sequence(&self) -> i32 {
        self.sequence
    }

    /// The lock node's path (`<lock path>/queue-<seq>`).
    pub fn lock_node(&self) -> &str {
        &self.lock.path
    }

    /// Processing succeeded: deletes the item node, then the lock.
    ///
    /// The delete is fenced by the lock: it goes in one transaction with a check that our
    /// lock node exists, and is sent only while the session that created the lock lives
    /// (zk-core fails the requests of a session that expired, so a delete is never applied on
    /// a later session). Once that session ended, the lock is gone and the item may have been
    /// redelivered to another consumer: a late ack never deletes it under that consumer (at
    /// least once: the item is then processed again, by whoever holds it).
    ///
    /// When the session ends with a delete in flight (its reply lost), the item node decides,
    /// read on the client's new session: gone, the delete was applied (or, once our lock had
    /// died, the consumer the item went to acknowledged it): `Ok`, the item is done; still
    /// there, it was not applied: [`Error::LockLost`].
    ///
    /// # Errors
    /// [`Error::LockLost`] when the item was given back: the lock's session ended (or the lock
    /// node vanished) before the delete was applied, so the item may be processed again
    /// elsewhere. [`Error::MaybeApplied`] when the client ended (closed, or its session expired
    /// without renewal) with a delete in flight, so that nothing can tell any more.
    /// [`Error::Zk`] for other errors, after a bounded number of retries of retryable ones
    /// (the delete may then have been applied; the lock is released in the background, so an
    /// item not deleted comes again).
    ///
    /// # Cancellation
    /// Dropped midway, the item is either deleted or given back (released in the
    /// background): never lost.
    pub async fn ack(self) -> Result<()> {
        let Delivery { node, lock, shared, .. } = self;
        let ops = [Op::check(&lock.path, None), Op::delete(&node, None)];
        fenced(&shared.client, &lock, &ops, &node, "a queue ack").await?;
        lock.release().await.map_err(Error::while_holding)
    }

    /// Gives the item back now, at its place in the queue (a consumer takes it first when it
    /// next lists the queue).
    ///
    /// # Errors
    /// [`Error::Zk`] when the lock could not be deleted after the client's retry policy gave up (it
    /// is deleted in the background then, or goes with the session). A session that ended
    /// already gave the item back: that is `Ok`.
    ///
    /// # Cancellation
    /// Dropped midway, the lock is deleted in the background.
    pub async fn release(self) -> Result<()> {
        self.lock.release().await.map_err(Error::Zk)
    }

    /// Moves the item to the tail of the queue (one transaction deletes the node and creates
    /// it again with a new sequence number), then releases the lock. The transaction is
    /// fenced by the lock, as [`ack`](Self::ack)'s delete is.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the session ended before the move was applied (the item was
    /// given back at its old place); [`Error::MaybeApplied`] and [`Error::Zk`] as for
    /// [`ack`](Self::ack).
    ///
    /// # Cancellation
    /// Dropped midway, the item is either moved or given back at its place: never lost.
    pub async fn requeue(self) -> Result<()> {
        let Delivery { node, lock, shared, data, .. } = self;
        let ops = [
            Op::check(&lock.path, None),
            Op::delete(&node, None),
            Op::create(&join(&shared.path, QUEUE_ITEM_PREFIX), &data, CreateMode::PersistentSequential),
        ];
        fenced(&shared.client, &lock, &ops, &node, "a queue requeue").await?;
        lock.release().await.map_err(Error::while_holding)
    }
}

/// Applies `ops` — a check that `lock` exists, the delete of the locked `item` node, maybe
/// more — while the session that created `lock` lives. `Ok` once applied (the item gone while
/// we hold its lock is our own earlier attempt, whose reply was lost: nobody else deletes a
/// locked item); [`Error::LockLost`] when the lock is gone and the ops were not applied. See
/// [`Delivery::ack`] for what an attempt cut by the end of the session returns.
async fn fenced(client: &Client, lock: &LockNode, ops: &[Op], item: &str, what: &'static str) -> Result<()> {
    let mut retries = Retries::new(client, what);
    // An attempt was sent whose outcome is unknown.
    let mut sent = false;
    // Bounded by the client's retry policy: each failed pass takes one of its delays.
    loop {
        if client.status().has_ended(lock.epoch) {
            return if sent { settle_after_end(client, item, what).await } else { Err(Error::LockLost) };
        }
        sent = true;
        match client.multi(ops).await {
            Ok(_) => return Ok(()),
            // Our lock vanished while its session lives (deleted by hand): not applied.
            Err(zk_core::Error::MultiFailed { index: 0, .. }) => return Err(Error::LockLost),
            Err(zk_core::Error::MultiFailed { index: 1, error }) if *error == zk_core::Error::NoNode => {
                return Ok(())
            }
            // Cut by the end of the session: the next pass settles it.
            Err(e) if e.is_terminal() => {}
            Err(e) => retries.wait(e).await?,
        }
    }
}

/// The lock's session ended with an attempt in flight: the item node tells whether it was
/// applied (gone: `Ok`) or not (there: given back, [`Error::LockLost`]), read on the client's
/// new session once it has one.
async fn settle_after_end(client: &Client, item: &str, what: &'static str) -> Result<()> {
    let unknown = || Error::MaybeApplied { what, data: None };
    if client.state().is_terminal() {
        return Err(unknown());
    }
    let read = retrying(client, || async {
        client.sync(parent(item)).await?;
        client.exists(item).await
    });
    match read.await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(Error::LockLost),
        Err(_) => Err(unknown()),
    }
}
