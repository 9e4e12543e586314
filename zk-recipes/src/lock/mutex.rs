//! [`InterProcessMutex`]: a distributed mutex, Curator's `InterProcessMutex`, whose
//! re-entrancy is tied to the guard ([`MutexGuard::reenter`]).

use std::time::Duration;

use tokio::time::Instant;
use zk_core::path::validate_path;
use zk_core::{Client, Op, OpResult};

use super::handle::{LockGuard, LockHandle};
use super::internals::{LockInternals, StandardDriver};
use super::layout::MUTEX_LOCK_NAME;
use super::{LockStatus, Participant};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;

/// A distributed mutex that interoperates with Apache Curator's `InterProcessMutex` on the
/// same path: nodes `<path>/_c_<uuid>-lock-<seq>` (ephemeral-sequential, protected), parents
/// created as containers, ordered by the sequence after `lock-`. The node's data is the
/// participant id ([`InterProcessMutex::with_id`], empty by default).
///
/// Waiting is fair (first come, first served) and herd-free: each waiter watches only the
/// node just before its own.
///
/// A handle may be shared by tasks, by `Clone` (clones share the handle's state) or by `Arc`:
/// every acquisition is a participant of its own with its own node, so two tasks never hold
/// the lock at once, whichever handle they acquire through.
///
/// Not re-entrant through the handle: acquiring again while this task holds a guard waits
/// behind that guard like any other participant (for ever, if the task awaits it). Curator's
/// `InterProcessMutex` is re-entrant per thread, which has no async equivalent; here
/// re-entrancy is explicit and tied to the guard: [`MutexGuard::reenter`] makes another guard
/// on the same node (one znode, a count), and the node is deleted when the last of them goes.
///
/// See the [module docs](crate) for Disconnected / Reconnected / Expired.
///
/// # Examples
///
/// ```
/// use zk_recipes::InterProcessMutex;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// # let client = server.client().await?;
/// let mutex = InterProcessMutex::new(client, "/locks/orders")?.with_id(b"worker-1");
/// let guard = mutex.acquire().await?;
/// // ... exclusive work; guard.path() is a fencing token ...
/// guard.release().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct InterProcessMutex {
    lock: LockHandle,
}

impl InterProcessMutex {
    /// A mutex on `path` (nothing is created until the first acquisition).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        validate_path(path)?;
        let driver = Box::new(StandardDriver { max_leases: 1 });
        let internals = LockInternals::new(client, path, MUTEX_LOCK_NAME, driver);
        Ok(InterProcessMutex { lock: LockHandle::new(internals) })
    }

    /// Stores `id` in the lock nodes of this handle and of clones made from it afterwards (see
    /// [`InterProcessMutex::participants`]).
    pub fn with_id(mut self, id: &[u8]) -> Self {
        self.lock.set_id(id);
        self
    }

    /// The lock path.
    pub fn path(&self) -> &str {
        self.lock.path()
    }

    /// True while a guard acquired through this handle or a clone of it is alive (held by any
    /// task).
    pub fn is_held(&self) -> bool {
        self.lock.is_held()
    }

    /// Waits until the lock is ours: a new participant (a new node), also when another task
    /// holds the lock through this handle.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the session expires or the client is closed while
    /// waiting; [`Error::NodeVanished`] when someone deletes our node; [`Error::Zk`] for other
    /// ZooKeeper errors (retryable ones are retried a bounded number of times first). No node
    /// is left behind on error.
    ///
    /// # Cancellation safety
    /// Safe to drop at any await: a node created (or being created) for this call is deleted
    /// in the background once the session can reach the server.
    pub async fn acquire(&self) -> Result<MutexGuard> {
        self.lock.acquire().await.map(MutexGuard)
    }

    /// Takes the lock if it is free right now.
    ///
    /// Returns `None` when another participant holds it, including one that acquired it through
    /// this handle (in this task or another).
    ///
    /// # Errors
    /// As [`InterProcessMutex::acquire`].
    ///
    /// # Cancellation safety
    /// As [`InterProcessMutex::acquire`].
    pub async fn try_acquire(&self) -> Result<Option<MutexGuard>> {
        Ok(self.lock.try_acquire().await?.map(MutexGuard))
    }

    /// Waits at most `timeout` (tokio time) for the lock; `None` when the time ran out (our
    /// node is then deleted). A zero timeout looks once, as
    /// [`InterProcessMutex::try_acquire`]; one past what the clock can hold
    /// (`Duration::MAX`) is no deadline.
    ///
    /// # Errors
    /// As [`InterProcessMutex::acquire`].
    ///
    /// # Cancellation safety
    /// As [`InterProcessMutex::acquire`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<MutexGuard>> {
        Ok(self.lock.acquire_timeout(timeout).await?.map(MutexGuard))
    }

    /// Waits until `deadline` (`None`: without one) for the lock: [`InterProcessMutex::acquire`],
    /// [`InterProcessMutex::try_acquire`] when it has passed, else as
    /// [`InterProcessMutex::acquire_timeout`]; `None` when the time ran out.
    pub(crate) async fn acquire_until(&self, deadline: Option<Instant>) -> Result<Option<MutexGuard>> {
        Ok(self.lock.acquire_by(deadline).await?.map(MutexGuard))
    }

    /// Every participant (holder first, then waiters in lock order), with the id in its node.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (a missing lock path is no participants).
    ///
    /// # Cancellation safety
    /// Read-only: safe to drop at any await.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        self.lock.participants().await
    }
}

/// One acquisition of an [`InterProcessMutex`], or a guard re-entered from one
/// ([`MutexGuard::reenter`]). The lock is released when the last guard on its node is released
/// or dropped.
///
/// Dropping a guard deletes the node in the background (retrying retryable errors until the
/// node is gone or the session ended); [`MutexGuard::release`] does it now and reports errors.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct MutexGuard(LockGuard);

impl MutexGuard {
    /// Re-enters the lock this guard holds: another guard on the same node, at once and
    /// without a request. The node is deleted when the last guard on it is released or
    /// dropped, so code handed a guard of its own cannot release the lock under this one. A
    /// guard of a lost lock re-enters a lost lock.
    ///
    /// This is the only way to re-enter: [`InterProcessMutex::acquire`] through the same
    /// handle is a new participant that waits for this guard.
    pub fn reenter(&self) -> MutexGuard {
        MutexGuard(self.0.reenter())
    }

    /// The lock node's path. Its sequence number grows with each new holder, so it serves as
    /// a fencing token; see also [`MutexGuard::fenced`].
    pub fn path(&self) -> &str {
        self.0.path()
    }

    /// The session epoch the lock node was created in.
    pub(crate) fn epoch(&self) -> u64 {
        self.0.epoch()
    }

    /// The lock's status right now, from the session state.
    pub fn status(&self) -> LockStatus {
        self.0.status()
    }

    /// Resolves when the lock may no longer be held: with [`LockStatus::Suspended`] on a
    /// disconnect, or [`LockStatus::Lost`] when the session ended.
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn suspended(&self) -> LockStatus {
        self.0.suspended().await
    }

    /// Resolves when the lock is lost for good (the session ended).
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn lost(&self) {
        self.0.lost().await;
    }

    /// Runs `ops` in one multi whose first op checks that the lock node still exists, so
    /// they apply only while we hold the lock (a fenced write). Returns the results of `ops`.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the lock node is gone or the session ended (nothing applied);
    /// [`Error::Zk`] with [`zk_core::Error::MultiFailed`] (index into `ops`) when one of
    /// `ops` failed; other [`Error::Zk`] errors (on `ConnectionLoss` the ops may or may not
    /// have been applied).
    ///
    /// # Cancellation safety
    /// The multi is sent when the future is first polled; dropping the future afterwards does
    /// not stop it from being applied, it only discards the result.
    pub async fn fenced(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        self.0.fenced(ops).await
    }

    /// Releases this guard; the last guard on the node deletes the lock node now.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the session ended while the lock was held (the node is gone
    /// already); [`Error::Zk`] when the delete failed with a non-retryable error.
    ///
    /// # Cancellation safety
    /// Dropped before it completes, the delete continues in the background.
    pub async fn release(self) -> Result<()> {
        self.0.release().await
    }
}
