//! [`InterProcessSemaphoreMutex`]: Curator's `InterProcessSemaphoreMutex`, a mutex that is an
//! [`InterProcessSemaphore`] of one lease.

use std::time::Duration;

use zk_core::path::validate_path;
use zk_core::{Client, Op, OpResult};

use super::handle::{HeldCount, HeldToken};
use super::{fenced_multi, InterProcessSemaphore, Lease, LockStatus, Participant};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;

/// A distributed mutex that is not re-entrant, and interoperates with Apache Curator's
/// `InterProcessSemaphoreMutex` on the same path: it is an [`InterProcessSemaphore`] of one
/// lease, laid out as Curator's `InterProcessSemaphoreV2` with one lease. The holder's node is
/// `<path>/leases/_c_<uuid>-lease-<seq>`; acquirers queue on an [`InterProcessMutex`] at
/// `<path>/locks` (nodes `_c_<uuid>-lock-<seq>`), all ephemeral-sequential and protected, with
/// container parents. The nodes' data is the participant id
/// ([`InterProcessSemaphoreMutex::with_id`], empty by default).
///
/// Not re-entrant, as in Curator: acquiring again while this task holds a guard waits behind
/// that guard like any other participant (for ever, if the task awaits it). Waiting is fair
/// (first come, first served, through the internal mutex) and herd-free. A handle may be
/// shared by tasks, by `Clone` (clones share the handle's state) or by `Arc`: every
/// acquisition is a participant of its own, so two tasks never hold the lock at once.
///
/// Unlike [`InterProcessMutex`], whose guard re-enters, a guard here is one lease: prefer this
/// type where a lock must never be taken twice by one owner, or where Curator processes use
/// `InterProcessSemaphoreMutex` on the path.
///
/// Session events (as for the other locks, see [the crate docs](crate#sessions-disconnected-reconnected-expired)):
/// on **Disconnected** a guard is [`LockStatus::Suspended`] (stop work that relies on
/// exclusivity, or use [`SemaphoreMutexGuard::fenced`]) and waiters keep waiting, their
/// watches re-registered on reconnect; on **Reconnected** (the same session) it is `Held`
/// again; on **Expired**, or when the client has moved on to a new session, the lease node is
/// gone: the guard is [`LockStatus::Lost`] for good, its fenced writes and
/// [`SemaphoreMutexGuard::release`] fail with [`Error::LockLost`], and a waiter fails with
/// [`Error::SessionEnded`]. Acquire again to take the lock in the new session.
///
/// [`InterProcessMutex`]: super::InterProcessMutex
///
/// # Examples
///
/// ```
/// use zk_recipes::InterProcessSemaphoreMutex;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let mutex = InterProcessSemaphoreMutex::new(server.client().await?, "/locks/report")?;
/// let guard = mutex.acquire().await?;
/// assert!(guard.path().starts_with("/locks/report/leases/_c_"));
/// // Not re-entrant: this handle, or a clone of it in another task, waits like anyone else.
/// let other_task = mutex.clone();
/// assert!(other_task.try_acquire().await?.is_none());
/// guard.release().await?;
/// assert!(other_task.try_acquire().await?.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct InterProcessSemaphoreMutex {
    semaphore: InterProcessSemaphore,
    path: String,
    held: HeldCount,
}

impl InterProcessSemaphoreMutex {
    /// A mutex on `path` (nothing is created until the first acquisition).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        validate_path(path)?;
        let semaphore = InterProcessSemaphore::new(client, path, 1)?;
        Ok(InterProcessSemaphoreMutex { semaphore, path: path.to_owned(), held: HeldCount::default() })
    }

    /// Stores `id` in the nodes of this handle and of clones made from it afterwards (see
    /// [`InterProcessSemaphoreMutex::participants`]).
    pub fn with_id(mut self, id: &[u8]) -> Self {
        self.semaphore = self.semaphore.with_id(id);
        self
    }

    /// The lock path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// True while a guard acquired through this handle or a clone of it is alive (held by any
    /// task).
    pub fn is_held(&self) -> bool {
        self.held.is_held()
    }

    /// Waits until the lock is ours: a new participant, also when another task holds the lock
    /// through this handle.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the session expires or the client is closed while
    /// waiting; [`Error::NodeVanished`] when someone deletes our lease node while we wait;
    /// [`Error::Zk`] for other ZooKeeper errors (retryable ones are retried a bounded number
    /// of times first). No node is left behind on error.
    ///
    /// # Cancellation safety
    /// Safe to drop at any await: our lease node and internal mutex node (created or being
    /// created) are deleted in the background once the session can reach the server.
    pub async fn acquire(&self) -> Result<SemaphoreMutexGuard> {
        self.semaphore.acquire().await.map(|lease| self.guard(lease))
    }

    /// Takes the lock if it is free right now; `None` when another participant holds it or is
    /// acquiring it (including one acquiring through this handle, in this task or another).
    ///
    /// # Errors
    /// As [`InterProcessSemaphoreMutex::acquire`].
    ///
    /// # Cancellation safety
    /// As [`InterProcessSemaphoreMutex::acquire`].
    pub async fn try_acquire(&self) -> Result<Option<SemaphoreMutexGuard>> {
        Ok(self.semaphore.try_acquire().await?.map(|lease| self.guard(lease)))
    }

    /// Waits at most `timeout` (tokio time) for the lock; `None` when the time ran out (our
    /// nodes are then deleted). A zero timeout looks once, as
    /// [`InterProcessSemaphoreMutex::try_acquire`]; one past what the clock can hold
    /// (`Duration::MAX`) is no deadline.
    ///
    /// # Errors
    /// As [`InterProcessSemaphoreMutex::acquire`].
    ///
    /// # Cancellation safety
    /// As [`InterProcessSemaphoreMutex::acquire`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<SemaphoreMutexGuard>> {
        Ok(self.semaphore.acquire_timeout(timeout).await?.map(|lease| self.guard(lease)))
    }

    /// The participants with a lease node, in lease order, with the id in their node: the
    /// holder first, then the one waiter that has created its lease node (the others wait on
    /// the internal mutex under `<path>/locks` and are not listed).
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (a missing path is no participants).
    ///
    /// # Cancellation safety
    /// Read-only: safe to drop at any await.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        self.semaphore.participants().await
    }

    fn guard(&self, lease: Lease) -> SemaphoreMutexGuard {
        SemaphoreMutexGuard { lease, _held: self.held.enter() }
    }
}

/// The one holder's lease of an [`InterProcessSemaphoreMutex`].
///
/// Dropping it deletes the lease node in the background (retrying retryable errors until the
/// node is gone or the session ended); [`SemaphoreMutexGuard::release`] does it now and
/// reports errors.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct SemaphoreMutexGuard {
    lease: Lease,
    /// Counts the lock as held by its handle until the guard goes.
    _held: HeldToken,
}

impl SemaphoreMutexGuard {
    /// The lease node's path. Its sequence number grows with each new holder, so it serves as
    /// a fencing token; see also [`SemaphoreMutexGuard::fenced`].
    pub fn path(&self) -> &str {
        self.lease.path()
    }

    /// The lock's status right now, from the session state.
    pub fn status(&self) -> LockStatus {
        self.lease.status()
    }

    /// Resolves when the lock may no longer be held: with [`LockStatus::Suspended`] on a
    /// disconnect, or [`LockStatus::Lost`] when the session ended.
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn suspended(&self) -> LockStatus {
        self.lease.suspended().await
    }

    /// Resolves when the lock is lost for good (the session ended).
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn lost(&self) {
        self.lease.lost().await;
    }

    /// Runs `ops` in one multi whose first op checks that the lease node still exists, so they
    /// apply only while we hold the lock (a fenced write). Returns the results of `ops`.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the lease node is gone or the session ended (nothing applied);
    /// [`Error::Zk`] with [`zk_core::Error::MultiFailed`] (index into `ops`) when one of
    /// `ops` failed; other [`Error::Zk`] errors (on `ConnectionLoss` the ops may or may not
    /// have been applied).
    ///
    /// # Cancellation safety
    /// The multi is sent when the future is first polled; dropping the future afterwards does
    /// not stop it from being applied, it only discards the result.
    pub async fn fenced(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        fenced_multi(self.lease.client(), self.lease.path(), ops).await
    }

    /// Releases the lock: deletes the lease node now.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the session ended while the lock was held (the node is gone
    /// already); [`Error::Zk`] when the delete failed with a non-retryable error.
    ///
    /// # Cancellation safety
    /// Dropped before it completes, the delete continues in the background.
    pub async fn release(self) -> Result<()> {
        self.lease.release().await
    }
}
