//! [`InterProcessReadWriteLock`]: Curator's `InterProcessReadWriteLock` on the shared
//! contention core.
//!
//! Both halves are [`LockInternals`] on the same path with different lock names (`__READ__`,
//! `__WRIT__`) and drivers, sorting every node by the sequence after its lock name:
//!
//! - the **write** driver is the standard one with one lease: a writer owns the lock when its
//!   node is first among all nodes, else it watches the node just before it;
//! - the **read** driver owns when this instance holds the write lock (a downgrade), or when
//!   no write node precedes ours; otherwise it watches the nearest preceding write node only,
//!   so readers queue behind an earlier writer (writers are not starved) and a release wakes
//!   only the readers behind that writer.
//!
//! See the [`lock` module docs](super) for Disconnected / Reconnected / Expired.

use std::time::Duration;

use zk_core::path::validate_path;
use zk_core::{Client, Op, OpResult};

use super::internals::{Decision, LockDriver, LockInternals, StandardDriver};
use super::layout::{rw_sort_key, READ_LOCK_NAME, WRITE_LOCK_NAME};
use super::reentrant::{new_held_cell, HeldCell, ReentrantGuard, ReentrantLock};
use super::{LockStatus, Participant};
use crate::error::{Error, Result};
use crate::lock;

/// The writer's driver: first among all nodes, sorted by sequence.
#[derive(Debug)]
struct WriteDriver;

impl LockDriver for WriteDriver {
    fn sort_key<'a>(&self, child: &'a str, _lock_name: &str) -> &'a str {
        rw_sort_key(child)
    }

    fn decide(&self, sorted: &[String], ours: &str) -> Result<Decision> {
        StandardDriver { max_leases: 1 }.decide(sorted, ours)
    }
}

/// The reader's driver: no write node before ours, or the write lock held by this instance.
#[derive(Debug)]
struct ReadDriver {
    /// The held state of this instance's write half: while it holds the write lock, reads
    /// own at once (a downgrade).
    writer: HeldCell,
}

impl LockDriver for ReadDriver {
    fn sort_key<'a>(&self, child: &'a str, _lock_name: &str) -> &'a str {
        rw_sort_key(child)
    }

    fn decide(&self, sorted: &[String], ours: &str) -> Result<Decision> {
        if lock(&self.writer).is_some() {
            return Ok(Decision::Owner);
        }
        read_decision(sorted, ours)
    }
}

/// Owner when no write node precedes `ours`, else watch the nearest preceding write node.
fn read_decision(sorted: &[String], ours: &str) -> Result<Decision> {
    let index = sorted.iter().position(|c| c == ours).ok_or_else(|| Error::NodeVanished(ours.to_owned()))?;
    match sorted[..index].iter().rev().find(|c| c.contains(WRITE_LOCK_NAME)) {
        None => Ok(Decision::Owner),
        Some(writer) => Ok(Decision::Watch(writer.clone())),
    }
}

/// A read/write lock that interoperates with Apache Curator's `InterProcessReadWriteLock` on
/// the same path: read nodes `<path>/_c_<uuid>-__READ__<seq>` and write nodes
/// `<path>/_c_<uuid>-__WRIT__<seq>` (ephemeral-sequential, protected, container parents),
/// ordered by sequence number. Node data is the participant id
/// ([`InterProcessReadWriteLock::with_id`], empty by default).
///
/// - Many readers hold the lock at once; a writer holds it alone.
/// - Writers are not starved: a reader that arrives after a waiting writer queues behind it.
/// - The writer may also take the read lock (**downgrade**): acquire write, acquire read,
///   release write, and the read lock is still held. The opposite (upgrade) is impossible, as
///   in Curator: a write acquisition waits behind this instance's own read node, so use
///   [`RwLockHandle::acquire_timeout`] if unsure.
/// - Each half is re-entrant per handle (one node, a count).
///
/// Session events (see [the crate docs](crate#session-events)): on **Disconnected** a guard
/// is [`LockStatus::Suspended`] and waiters keep waiting; on **Reconnected** it is `Held`
/// again; on **Expired** it is [`LockStatus::Lost`] and its operations fail with
/// [`Error::LockLost`], while a waiter fails with [`Error::SessionEnded`].
///
/// # Examples
///
/// ```
/// use zk_recipes::InterProcessReadWriteLock;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let a = InterProcessReadWriteLock::new(server.client().await?, "/locks/config")?;
/// let b = InterProcessReadWriteLock::new(server.client().await?, "/locks/config")?;
/// let ra = a.read_lock().acquire().await?;
/// let rb = b.read_lock().acquire().await?; // readers share
/// assert!(b.write_lock().try_acquire().await?.is_none());
/// ra.release().await?;
/// rb.release().await?;
/// let w = b.write_lock().acquire().await?;
/// let r = b.read_lock().acquire().await?; // downgrade
/// w.release().await?;
/// assert!(a.write_lock().try_acquire().await?.is_none());
/// r.release().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct InterProcessReadWriteLock {
    read: RwLockHandle,
    write: RwLockHandle,
}

impl InterProcessReadWriteLock {
    /// A read/write lock on `path` (nothing is created until the first acquisition).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        validate_path(path)?;
        let writer = new_held_cell();
        let read_driver = Box::new(ReadDriver { writer: writer.clone() });
        let write = LockInternals::new(client.clone(), path, WRITE_LOCK_NAME, Box::new(WriteDriver));
        let read = LockInternals::new(client, path, READ_LOCK_NAME, read_driver);
        Ok(InterProcessReadWriteLock {
            read: RwLockHandle { lock: ReentrantLock::new(read, new_held_cell()), write: false },
            write: RwLockHandle { lock: ReentrantLock::new(write, writer), write: true },
        })
    }

    /// Stores `id` in this instance's lock nodes (see
    /// [`InterProcessReadWriteLock::participants`]).
    pub fn with_id(mut self, id: &[u8]) -> Self {
        self.read.lock.set_id(id);
        self.write.lock.set_id(id);
        self
    }

    /// The lock path.
    pub fn path(&self) -> &str {
        self.read.lock.path()
    }

    /// The read half: shared with other readers, excluded by a writer.
    pub fn read_lock(&self) -> &RwLockHandle {
        &self.read
    }

    /// The write half: exclusive.
    pub fn write_lock(&self) -> &RwLockHandle {
        &self.write
    }

    /// Every participant, readers and writers, in lock order, with the id in its node.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (a missing lock path is no participants).
    ///
    /// # Cancellation safety
    /// Read-only: safe to drop at any await.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        self.read.lock.participants().await
    }
}

/// One half (read or write) of an [`InterProcessReadWriteLock`], re-entrant per handle.
#[derive(Debug)]
pub struct RwLockHandle {
    lock: ReentrantLock,
    write: bool,
}

impl RwLockHandle {
    /// True for the write half.
    pub fn is_write(&self) -> bool {
        self.write
    }

    /// True while a guard acquired through this handle is alive.
    pub fn is_held(&self) -> bool {
        self.lock.is_held()
    }

    /// Waits until this half of the lock is ours.
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
    pub async fn acquire(&self) -> Result<RwLockGuard> {
        self.lock.acquire().await.map(|inner| self.guard(inner))
    }

    /// Takes this half if it is available (or held through this handle) right now; `None`
    /// otherwise (our node is then deleted).
    ///
    /// # Errors
    /// As [`RwLockHandle::acquire`].
    ///
    /// # Cancellation safety
    /// As [`RwLockHandle::acquire`].
    pub async fn try_acquire(&self) -> Result<Option<RwLockGuard>> {
        Ok(self.lock.try_acquire().await?.map(|inner| self.guard(inner)))
    }

    /// Waits at most `timeout` (tokio time); `None` when the time ran out (our node is then
    /// deleted). A zero timeout looks once, as [`RwLockHandle::try_acquire`]; one past what
    /// the clock can hold (`Duration::MAX`) is no deadline.
    ///
    /// # Errors
    /// As [`RwLockHandle::acquire`].
    ///
    /// # Cancellation safety
    /// As [`RwLockHandle::acquire`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<RwLockGuard>> {
        Ok(self.lock.acquire_timeout(timeout).await?.map(|inner| self.guard(inner)))
    }

    fn guard(&self, inner: ReentrantGuard) -> RwLockGuard {
        RwLockGuard { inner, write: self.write }
    }
}

/// One acquisition of a half of an [`InterProcessReadWriteLock`]; the half is released when
/// the last guard of its handle is released or dropped.
///
/// Dropping a guard deletes the node in the background (retrying retryable errors until the
/// node is gone or the session ended); [`RwLockGuard::release`] does it now and reports
/// errors.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockGuard {
    inner: ReentrantGuard,
    write: bool,
}

impl RwLockGuard {
    /// The lock node's path (a fencing token; see also [`RwLockGuard::fenced`]).
    pub fn path(&self) -> &str {
        self.inner.path()
    }

    /// True when this guard holds the write half.
    pub fn is_write(&self) -> bool {
        self.write
    }

    /// The lock's status right now, from the session state.
    pub fn status(&self) -> LockStatus {
        self.inner.status()
    }

    /// Resolves when the lock may no longer be held: [`LockStatus::Suspended`] on a
    /// disconnect, [`LockStatus::Lost`] when the session ended.
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn suspended(&self) -> LockStatus {
        self.inner.suspended().await
    }

    /// Resolves when the lock is lost for good (the session ended).
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn lost(&self) {
        self.inner.lost().await;
    }

    /// Runs `ops` in one multi whose first op checks that our lock node still exists (a
    /// fenced write). Returns the results of `ops`.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the lock node is gone or the session ended (nothing applied);
    /// [`Error::Zk`] with [`zk_core::Error::MultiFailed`] (index into `ops`) when one of
    /// `ops` failed; other [`Error::Zk`] errors (on `ConnectionLoss` the ops may or may not
    /// have been applied).
    ///
    /// # Cancellation safety
    /// The multi is sent when the future is first polled; dropping the future afterwards does
    /// not stop it from being applied.
    pub async fn fenced(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        self.inner.fenced(ops).await
    }

    /// Releases this acquisition; the last one of the handle deletes the lock node now.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the session ended while the lock was held; [`Error::Zk`] when
    /// the delete failed with a non-retryable error.
    ///
    /// # Cancellation safety
    /// Dropped before it completes, the delete continues in the background.
    pub async fn release(self) -> Result<()> {
        self.inner.release().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn readers_wait_for_the_nearest_earlier_writer_only() {
        let sorted = names(&["a__READ__1", "b__WRIT__2", "c__READ__3", "d__WRIT__4", "e__READ__5"]);
        assert_eq!(read_decision(&sorted, "a__READ__1").unwrap(), Decision::Owner);
        assert_eq!(read_decision(&sorted, "c__READ__3").unwrap(), Decision::Watch("b__WRIT__2".into()));
        assert_eq!(read_decision(&sorted, "e__READ__5").unwrap(), Decision::Watch("d__WRIT__4".into()));
        assert!(matches!(read_decision(&sorted, "x"), Err(Error::NodeVanished(_))));
        assert_eq!(WriteDriver.decide(&sorted, "d__WRIT__4").unwrap(), Decision::Watch("c__READ__3".into()));
    }

    #[test]
    fn sort_key_is_the_sequence_for_both_kinds() {
        assert_eq!(rw_sort_key("_c_x-__READ__0000000007"), "0000000007");
        assert_eq!(rw_sort_key("_c_x-__WRIT__0000000003"), "0000000003");
        assert_eq!(rw_sort_key("other"), "other");
    }
}
