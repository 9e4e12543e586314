//! The re-entrant lock handle and guard behind [`InterProcessMutex`](super::InterProcessMutex)
//! and both halves of [`InterProcessReadWriteLock`](super::InterProcessReadWriteLock).
//!
//! A [`ReentrantLock`] is one [`LockInternals`] plus what makes it re-entrant per handle: a
//! gate that serialises acquisitions through the handle (so concurrent calls re-enter rather
//! than create two nodes) and the held state (our node and how many guards share it). The
//! node is deleted when the last [`ReentrantGuard`] is released or dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{timeout_at, Instant};
use zk_core::{Client, Op, OpResult};

use super::internals::{deadline_after, participants, until, LockInternals};
use super::{fenced_multi, wait_lost, wait_not_held, LockStatus, Participant};
use crate::error::{Error, Result};
use crate::lock;
use crate::protected::Cleanup;

/// What a handle holds: its node and how many guards share it.
#[derive(Debug)]
pub(crate) struct Held {
    node: String,
    count: usize,
    /// The session epoch the node was created in: once it ended, the node is gone and a new
    /// acquisition through the handle takes the lock anew.
    epoch: u64,
}

/// The held state of one handle. Shared with a driver that must know whether (and which
/// node) the handle holds, as the read driver of a read/write lock does for the write half.
pub(crate) type HeldCell = Arc<Mutex<Option<Held>>>;

/// A new, empty held state.
pub(crate) fn new_held_cell() -> HeldCell {
    Arc::new(Mutex::new(None))
}

#[derive(Debug)]
struct Shared {
    internals: LockInternals,
    held: HeldCell,
}

impl Shared {
    /// One guard fewer; the node to delete when it was the last. A guard of a node the handle
    /// no longer holds (its session ended and the handle took the lock anew) changes nothing.
    fn leave(&self, node: &str) -> Option<String> {
        let mut held = lock(&self.held);
        let h = held.as_mut().filter(|h| h.node == node)?;
        h.count -= 1;
        if h.count == 0 {
            held.take().map(|h| h.node)
        } else {
            None
        }
    }
}

/// A lock handle, re-entrant per handle; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct ReentrantLock {
    shared: Arc<Shared>,
    id: Vec<u8>,
    /// Serialises acquisitions through this handle, so concurrent calls re-enter rather than
    /// create two nodes.
    gate: tokio::sync::Mutex<()>,
}

impl ReentrantLock {
    /// A handle on `internals` whose held state is `held`.
    pub(crate) fn new(internals: LockInternals, held: HeldCell) -> Self {
        let shared = Arc::new(Shared { internals, held });
        ReentrantLock { shared, id: Vec::new(), gate: tokio::sync::Mutex::new(()) }
    }

    /// Stores `id` in this handle's lock nodes.
    pub(crate) fn set_id(&mut self, id: &[u8]) {
        self.id = id.to_vec();
    }

    /// The lock path.
    pub(crate) fn path(&self) -> &str {
        self.shared.internals.path()
    }

    /// True while a guard acquired through this handle is alive.
    pub(crate) fn is_held(&self) -> bool {
        lock(&self.shared.held).is_some()
    }

    /// Waits until the lock is ours (errors and cancellation as the public `acquire`s).
    pub(crate) async fn acquire(&self) -> Result<ReentrantGuard> {
        let guard = self.acquire_by(None).await?;
        guard.ok_or(Error::RetriesExhausted("acquire without deadline returned no guard"))
    }

    /// Takes the lock if it is free (or held through this handle) right now.
    pub(crate) async fn try_acquire(&self) -> Result<Option<ReentrantGuard>> {
        // No outer bound: the create and one look at the children must complete.
        self.acquire_by(Some(Instant::now())).await
    }

    /// Waits at most `timeout` (tokio time); `None` when the time ran out. A zero timeout
    /// looks once, as [`ReentrantLock::try_acquire`]; one past what the clock can hold is no
    /// deadline.
    pub(crate) async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<ReentrantGuard>> {
        self.acquire_by(deadline_after(timeout)).await
    }

    /// Acquires, giving up at `deadline` (`None`: never): a deadline already passed makes one
    /// look as [`ReentrantLock::try_acquire`]; one ahead also stops the create and the reads
    /// at the deadline (the attempt then cleans up in the background), as
    /// [`ReentrantLock::acquire_timeout`].
    pub(crate) async fn acquire_by(&self, deadline: Option<Instant>) -> Result<Option<ReentrantGuard>> {
        let _gate = match deadline {
            None => self.gate.lock().await,
            Some(d) => match timeout_at(d, self.gate.lock()).await {
                Ok(g) => g,
                Err(_) => return Ok(None),
            },
        };
        if let Some(guard) = self.reenter() {
            return Ok(Some(guard));
        }
        // Taken before the attempt: a node created across an expiry then counts as lost,
        // never the other way round.
        let epoch = self.shared.internals.client().status().epoch;
        let attempt = self.shared.internals.attempt(&self.id, deadline);
        let node = until(deadline, attempt).await.unwrap_or(Ok(None))?;
        Ok(node.map(|node| {
            *lock(&self.shared.held) = Some(Held { node: node.clone(), count: 1, epoch });
            self.guard(node, epoch)
        }))
    }

    /// Another guard on the node the handle holds, while its session lasts.
    fn reenter(&self) -> Option<ReentrantGuard> {
        let status = self.shared.internals.client().status();
        let (node, epoch) = {
            let mut held = lock(&self.shared.held);
            let h = held.as_mut().filter(|h| !status.has_ended(h.epoch))?;
            h.count += 1;
            (h.node.clone(), h.epoch)
        };
        Some(self.guard(node, epoch))
    }

    fn guard(&self, node: String, epoch: u64) -> ReentrantGuard {
        ReentrantGuard { shared: self.shared.clone(), node, epoch, released: false }
    }

    /// Every participant in this handle's lock order, with the id in its node (a missing
    /// lock path is no participants).
    pub(crate) async fn participants(&self) -> Result<Vec<Participant>> {
        let internals = &self.shared.internals;
        let children = internals.sorted_children().await?;
        participants(internals.client(), internals.path(), &children).await
    }
}

/// One acquisition of a [`ReentrantLock`]. Dropping it deletes the node in the background
/// when it is the handle's last guard; [`ReentrantGuard::release`] does it now.
#[derive(Debug)]
pub(crate) struct ReentrantGuard {
    shared: Arc<Shared>,
    node: String,
    epoch: u64,
    released: bool,
}

impl ReentrantGuard {
    /// The lock node's path.
    pub(crate) fn path(&self) -> &str {
        &self.node
    }

    /// The session epoch the lock node was created in.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The lock's status right now, from the session state.
    pub(crate) fn status(&self) -> LockStatus {
        LockStatus::of(self.client().status(), self.epoch)
    }

    /// Resolves when the lock may no longer be held.
    pub(crate) async fn suspended(&self) -> LockStatus {
        wait_not_held(self.client(), self.epoch).await
    }

    /// Resolves when the lock is lost for good (the session ended).
    pub(crate) async fn lost(&self) {
        wait_lost(self.client(), self.epoch).await;
    }

    /// A fenced write on our lock node; see [`fenced_multi`].
    pub(crate) async fn fenced(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        fenced_multi(self.client(), &self.node, ops).await
    }

    /// Releases this acquisition; the last one of the handle deletes the lock node now.
    pub(crate) async fn release(mut self) -> Result<()> {
        self.released = true;
        match self.shared.leave(&self.node) {
            Some(_) if self.status() == LockStatus::Lost => Err(Error::LockLost),
            Some(node) => Cleanup::for_path(self.client(), &node).run().await.map_err(Error::while_holding),
            None if self.status() == LockStatus::Lost => Err(Error::LockLost),
            None => Ok(()),
        }
    }

    fn client(&self) -> &Client {
        self.shared.internals.client()
    }
}

impl Drop for ReentrantGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Some(node) = self.shared.leave(&self.node) {
            // An armed cleanup deletes the node from a background task when dropped.
            drop(Cleanup::for_path(self.client(), &node));
        }
    }
}
