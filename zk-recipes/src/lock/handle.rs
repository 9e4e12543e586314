//! The lock handle and guard behind [`InterProcessMutex`](super::InterProcessMutex) and both
//! halves of [`InterProcessReadWriteLock`](super::InterProcessReadWriteLock).
//!
//! A [`LockHandle`] is a cheap `Clone` of one [`LockInternals`]. Every acquisition through it,
//! or through any clone, is a participant of its own with its own node: tasks sharing a handle
//! contend exactly as two processes do, so two of them never hold the lock at once. A
//! [`LockGuard`] is one held node; [`LockGuard::reenter`] makes another guard on that node, so
//! re-entrancy belongs to whoever holds a guard, never to the handle. The node is deleted when
//! the last guard on it is released or dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use zk_core::{Client, Op, OpResult};

use super::internals::{participants, LockDriver, LockInternals};
use super::{fenced_multi, wait_lost, wait_not_held, LockStatus, Participant};
use crate::deadline::{deadline_after, until};
use crate::error::{Error, Result};
use crate::observe;
use crate::protected::Cleanup;
use tracing::Instrument;

/// How many acquisitions made through a handle (and its clones) are held right now.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeldCount(Arc<AtomicUsize>);

impl HeldCount {
    /// True while at least one acquisition is held.
    pub(crate) fn is_held(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }

    /// Counts one more held acquisition, until the token is dropped.
    pub(crate) fn enter(&self) -> HeldToken {
        self.0.fetch_add(1, Ordering::SeqCst);
        HeldToken(self.0.clone())
    }
}

/// One held acquisition of a [`HeldCount`]; dropping it counts it out.
#[derive(Debug)]
pub(crate) struct HeldToken(Arc<AtomicUsize>);

impl Drop for HeldToken {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug)]
struct Shared {
    internals: LockInternals,
    held: HeldCount,
}

/// A lock handle whose clones share one core; see the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct LockHandle {
    shared: Arc<Shared>,
    id: Vec<u8>,
}

impl LockHandle {
    /// A handle on `internals`.
    pub(crate) fn new(internals: LockInternals) -> Self {
        LockHandle { shared: Arc::new(Shared { internals, held: HeldCount::default() }), id: Vec::new() }
    }

    /// Stores `id` in the lock nodes of this handle (and of clones made afterwards).
    pub(crate) fn set_id(&mut self, id: &[u8]) {
        self.id = id.to_vec();
    }

    /// The lock path.
    pub(crate) fn path(&self) -> &str {
        self.shared.internals.path()
    }

    /// True while a guard acquired through this handle or a clone of it is alive.
    pub(crate) fn is_held(&self) -> bool {
        self.shared.held.is_held()
    }

    /// Waits until the lock is ours (errors and cancellation as the public `acquire`s).
    pub(crate) async fn acquire(&self) -> Result<LockGuard> {
        let guard = self.acquire_by(None).await?;
        guard.ok_or(Error::RetriesExhausted("acquire without deadline returned no guard"))
    }

    /// Takes the lock if it is free right now.
    pub(crate) async fn try_acquire(&self) -> Result<Option<LockGuard>> {
        // No outer bound: the create and one look at the children must complete.
        self.acquire_by(Some(Instant::now())).await
    }

    /// Waits at most `timeout` (tokio time); `None` when the time ran out. A zero timeout
    /// looks once, as [`LockHandle::try_acquire`]; one past what the clock can hold is no
    /// deadline.
    pub(crate) async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.acquire_by(deadline_after(timeout)).await
    }

    /// Acquires, giving up at `deadline` (`None`: never): a deadline already passed makes one
    /// look as [`LockHandle::try_acquire`]; one ahead also stops the create and the reads at
    /// the deadline (the attempt then cleans up in the background), as
    /// [`LockHandle::acquire_timeout`].
    pub(crate) async fn acquire_by(&self, deadline: Option<Instant>) -> Result<Option<LockGuard>> {
        self.acquire_as(None, deadline).await
    }

    /// As [`LockHandle::acquire_by`], ownership decided by `driver` instead of the core's own.
    pub(crate) async fn acquire_as(
        &self,
        driver: Option<&dyn LockDriver>,
        deadline: Option<Instant>,
    ) -> Result<Option<LockGuard>> {
        let internals = &self.shared.internals;
        // Taken before the attempt: a node created across an expiry then counts as lost,
        // never the other way round.
        let epoch = internals.client().status().epoch;
        let (span, start) = (observe::lock_span(internals.path()), tokio::time::Instant::now());
        let attempt = internals.attempt(driver, &self.id, deadline, epoch);
        let node = until(deadline, attempt).instrument(span.clone()).await.unwrap_or(Ok(None));
        observe::lock_waited(&span, start.elapsed(), node.as_ref().map(Option::is_some).map_err(drop));
        Ok(node?.map(|node| LockGuard::new(internals.client(), &self.shared.held, node, epoch)))
    }

    /// Every participant in this handle's lock order, with the id in its node (a missing
    /// lock path is no participants).
    pub(crate) async fn participants(&self) -> Result<Vec<Participant>> {
        let internals = &self.shared.internals;
        let children = internals.sorted_children().await?;
        participants(internals.client(), internals.path(), &children).await
    }
}

/// One held lock node, shared by the guards re-entered from the one that acquired it.
#[derive(Debug)]
struct Holding {
    client: Client,
    node: String,
    /// The session epoch the node was created in.
    epoch: u64,
    /// Armed while held: deletes the node in the background when the last guard is dropped.
    cleanup: Cleanup,
    /// Counts this node as held by its handle until the last guard goes.
    _held: HeldToken,
}

impl Holding {
    fn status(&self) -> LockStatus {
        LockStatus::of(self.client.status(), self.epoch)
    }

    /// Deletes the node now (the last guard is being released).
    async fn release(self) -> Result<()> {
        if self.status() == LockStatus::Lost {
            // Its session ended: the node went with it.
            self.cleanup.disarm();
            return Err(Error::LockLost);
        }
        self.cleanup.run().await.map_err(Error::while_holding)
    }
}

/// One guard on a node of a [`LockHandle`]. Dropping the last guard on a node deletes it in
/// the background; [`LockGuard::release`] of the last one does it now.
#[derive(Debug)]
pub(crate) struct LockGuard {
    holding: Arc<Holding>,
}

impl LockGuard {
    fn new(client: &Client, held: &HeldCount, node: String, epoch: u64) -> LockGuard {
        let cleanup = Cleanup::for_path(client, &node);
        let holding = Holding { client: client.clone(), node, epoch, cleanup, _held: held.enter() };
        LockGuard { holding: Arc::new(holding) }
    }

    /// Another guard on the same node: the node stays until both are released or dropped.
    pub(crate) fn reenter(&self) -> LockGuard {
        LockGuard { holding: self.holding.clone() }
    }

    /// The lock node's path.
    pub(crate) fn path(&self) -> &str {
        &self.holding.node
    }

    /// The session epoch the lock node was created in.
    pub(crate) fn epoch(&self) -> u64 {
        self.holding.epoch
    }

    /// The lock's status right now, from the session state.
    pub(crate) fn status(&self) -> LockStatus {
        self.holding.status()
    }

    /// Resolves when the lock may no longer be held.
    pub(crate) async fn suspended(&self) -> LockStatus {
        wait_not_held(&self.holding.client, self.epoch()).await
    }

    /// Resolves when the lock is lost for good (the session ended).
    pub(crate) async fn lost(&self) {
        wait_lost(&self.holding.client, self.epoch()).await;
    }

    /// A fenced write on our lock node; see [`fenced_multi`].
    pub(crate) async fn fenced(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        fenced_multi(&self.holding.client, self.path(), ops).await
    }

    /// Releases this guard; the last one on the node deletes it now.
    pub(crate) async fn release(self) -> Result<()> {
        let lost = self.status() == LockStatus::Lost;
        // Exactly one of the guards released at the same time gets the node.
        match Arc::into_inner(self.holding) {
            Some(last) => last.release().await,
            None if lost => Err(Error::LockLost),
            None => Ok(()),
        }
    }
}
