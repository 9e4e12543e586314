//! [`Delivery`]: an item locked by an at-least-once consumer, and the lock itself (an
//! ephemeral `<lock path>/queue-<seq>` holding a random token, so that our lock is told from
//! another's after a lost reply).

use std::sync::Arc;

use zk_core::path::{join, sequence_number};
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
        match client.create(&node.path, &node.token, CreateMode::Ephemeral).await {
            Ok(_) => return Ok(Some(node)),
            Err(zk_core::Error::NodeExists) if maybe_created => {
                match retrying(client, || client.get_data(&node.path)).await {
                    Ok((data, _)) if data == node.token => return Ok(Some(node)),
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
    /// Armed while the lock may be ours: deletes it (if it holds our token) in the background
    /// when dropped.
    cleanup: Cleanup,
}

impl LockNode {
    fn new(client: &Client, path: String, token: Vec<u8>) -> LockNode {
        let cleanup = Cleanup::for_node_holding(client, &path, &token);
        LockNode { path, token, cleanup }
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
    /// # Errors
    /// [`Error::LockLost`] when the session ended (the item was given back and may be
    /// processed again elsewhere); [`Error::Zk`] for other errors, after a bounded number of
    /// retries of retryable ones (the lock is then released in the background, so the item
    /// may come again).
    ///
    /// # Cancellation
    /// Dropped midway, the item is either deleted or given back (released in the
    /// background): never lost.
    pub async fn ack(self) -> Result<()> {
        let Delivery { node, lock, shared, .. } = self;
        match retrying(&shared.client, || shared.client.delete(&node, None)).await {
            Ok(()) | Err(zk_core::Error::NoNode) => {}
            Err(e) => return Err(Error::while_holding(e)),
        }
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
    /// it again with a new sequence number), then releases the lock.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the session ended (the item was given back at its old place);
    /// [`Error::Zk`] for other errors, once the client's retry policy gave up on retryable ones.
    ///
    /// # Cancellation
    /// Dropped midway, the item is either moved or given back at its place: never lost.
    pub async fn requeue(self) -> Result<()> {
        let Delivery { node, lock, shared, data, .. } = self;
        let client = &shared.client;
        let ops = [
            Op::delete(&node, None),
            Op::create(&join(&shared.path, QUEUE_ITEM_PREFIX), &data, CreateMode::PersistentSequential),
        ];
        let mut retries = Retries::new(client, "queue requeue");
        // Bounded by the client's retry policy: each failed pass takes one of its delays.
        loop {
            match client.multi(&ops).await {
                Ok(_) => break,
                // The node is gone: a lost reply of our own transaction (nobody else deletes
                // a locked item).
                Err(zk_core::Error::MultiFailed { index: 0, .. }) => break,
                Err(e) => retries.wait(e).await.map_err(Error::while_holding)?,
            }
        }
        lock.release().await.map_err(Error::while_holding)
    }
}
