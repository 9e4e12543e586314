//! [`InterProcessReadWriteLock`]: Curator's `InterProcessReadWriteLock` on the shared
//! contention core.
//!
//! Both halves are [`LockInternals`] on the same path with different lock names (`__READ__`,
//! `__WRIT__`) and drivers, sorting every node by the sequence after its lock name:
//!
//! - the **write** driver is the standard one with one lease: a writer owns the lock when its
//!   node is first among all nodes, else it watches the node just before it;
//! - the **read** driver owns when no write node precedes ours; otherwise it watches the
//!   nearest preceding write node only, so readers queue behind an earlier writer (writers are
//!   not starved) and a release wakes only the readers behind that writer;
//! - a read taken by the write lock's holder ([`RwLockGuard::read_while_writing`]) owns at
//!   once while that holder's write node stands: the write guard is what Curator's "this
//!   thread owns the write lock" is here.
//!
//! See the [`lock` module docs](super) for Disconnected / Reconnected / Expired.

use std::time::Duration;

use zk_core::path::validate_path;
use zk_core::{Client, Op, OpResult};

use super::handle::{LockGuard, LockHandle};
use super::internals::{Decision, LockDriver, LockInternals, StandardDriver};
use super::layout::{rw_sort_key, READ_LOCK_NAME, WRITE_LOCK_NAME};
use super::{LockStatus, Participant};
use crate::error::{Error, Result};

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

/// The reader's driver: no write node before ours.
#[derive(Debug)]
struct ReadDriver;

impl LockDriver for ReadDriver {
    fn sort_key<'a>(&self, child: &'a str, _lock_name: &str) -> &'a str {
        rw_sort_key(child)
    }

    fn decide(&self, sorted: &[String], ours: &str) -> Result<Decision> {
        read_decision(sorted, ours)
    }
}

/// The driver of a read taken by the write lock's holder: owner while its write node
/// (`writer`, a node name) stands, [`Error::LockLost`] once it is gone.
#[derive(Debug)]
struct WhileWriting {
    writer: String,
}

impl LockDriver for WhileWriting {
    fn sort_key<'a>(&self, child: &'a str, _lock_name: &str) -> &'a str {
        rw_sort_key(child)
    }

    fn decide(&self, sorted: &[String], ours: &str) -> Result<Decision> {
        if !sorted.iter().any(|c| c == ours) {
            return Err(Error::NodeVanished(ours.to_owned()));
        }
        if sorted.contains(&self.writer) {
            Ok(Decision::Owner)
        } else {
            Err(Error::LockLost)
        }
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
/// - The holder of the write lock may also take the read lock, through its write guard:
///   [`RwLockGuard::read_while_writing`] (Curator lets the write lock's holder take the read
///   lock). Release the write guard and the read lock is still held: a **downgrade**.
///   Acquiring the read half through a handle instead is a new reader, which waits behind the
///   writer (for ever, if that task holds the write lock and awaits it). The opposite
///   (upgrade) is impossible, as in Curator: a write acquisition waits behind the task's own
///   read node, so use [`RwLockHandle::acquire_timeout`] if unsure.
/// - A lock, or one of its halves, may be shared by tasks, by `Clone` (clones share the
///   state) or by `Arc`: every acquisition is a participant of its own with its own node, so
///   two tasks never hold the write lock at once. Re-entrancy is tied to the guard
///   ([`RwLockGuard::reenter`]: one node, a count), never to the handle.
///
/// Session events (see [the crate docs](crate#sessions-disconnected-reconnected-expired)): on **Disconnected** a guard
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
/// let r = w.read_while_writing().await?; // downgrade
/// w.release().await?;
/// assert!(a.write_lock().try_acquire().await?.is_none());
/// r.release().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
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
        let write = LockInternals::new(client.clone(), path, WRITE_LOCK_NAME, Box::new(WriteDriver));
        let read = LockHandle::new(LockInternals::new(client, path, READ_LOCK_NAME, Box::new(ReadDriver)));
        Ok(InterProcessReadWriteLock {
            read: RwLockHandle { lock: read.clone(), reader: None },
            write: RwLockHandle { lock: LockHandle::new(write), reader: Some(read) },
        })
    }

    /// Stores `id` in the lock nodes of this instance and of clones made from it afterwards
    /// (see [`InterProcessReadWriteLock::participants`]).
    pub fn with_id(mut self, id: &[u8]) -> Self {
        self.read.lock.set_id(id);
        self.write.lock.set_id(id);
        if let Some(reader) = &mut self.write.reader {
            reader.set_id(id);
        }
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

/// One half (read or write) of an [`InterProcessReadWriteLock`]. It may be shared by tasks
/// (`Clone`, `Arc`): every acquisition is a participant of its own.
#[derive(Debug, Clone)]
pub struct RwLockHandle {
    lock: LockHandle,
    /// The read half, on the write half: what [`RwLockGuard::read_while_writing`] acquires.
    reader: Option<LockHandle>,
}

impl RwLockHandle {
    /// True for the write half.
    pub fn is_write(&self) -> bool {
        self.reader.is_some()
    }

    /// True while a guard of this half, acquired through this handle or a clone of it (or
    /// for the read half, through a write guard), is alive.
    pub fn is_held(&self) -> bool {
        self.lock.is_held()
    }

    /// Waits until this half of the lock is ours: a new participant (a new node), also when
    /// another task holds this half through this handle.
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

    /// Takes this half if it is available right now; `None` otherwise (our node is then
    /// deleted).
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

    fn guard(&self, inner: LockGuard) -> RwLockGuard {
        RwLockGuard { inner, reader: self.reader.clone() }
    }
}

/// One acquisition of a half of an [`InterProcessReadWriteLock`], or a guard re-entered from
/// one ([`RwLockGuard::reenter`]); the half is released when the last guard on its node is
/// released or dropped.
///
/// Dropping a guard deletes the node in the background (retrying retryable errors until the
/// node is gone or the session ended); [`RwLockGuard::release`] does it now and reports
/// errors.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockGuard {
    inner: LockGuard,
    /// The read half, on a write guard.
    reader: Option<LockHandle>,
}

impl RwLockGuard {
    /// Re-enters the half this guard holds: another guard on the same node, at once and
    /// without a request; the node is deleted when the last guard on it goes. A guard of a
    /// lost lock re-enters a lost lock.
    pub fn reenter(&self) -> RwLockGuard {
        RwLockGuard { inner: self.inner.reenter(), reader: self.reader.clone() }
    }

    /// Takes the read lock while this write guard holds the write lock: a read node that owns
    /// at once while our write node stands (Curator lets the write lock's holder take the
    /// read lock). Releasing this write guard afterwards leaves the read lock held: a
    /// downgrade. The read guard counts for the instance's read half
    /// ([`RwLockHandle::is_held`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] on a read guard; [`Error::LockLost`] when the write lock is
    /// lost (its session ended, or its node is gone); otherwise as
    /// [`RwLockHandle::acquire`]. No node is left behind on error.
    ///
    /// # Cancellation safety
    /// As [`RwLockHandle::acquire`].
    pub async fn read_while_writing(&self) -> Result<RwLockGuard> {
        let Some(reader) = &self.reader else {
            return Err(Error::InvalidArgument("read_while_writing needs a write guard".into()));
        };
        if self.status() == LockStatus::Lost {
            return Err(Error::LockLost);
        }
        let writer = self.path().rsplit('/').next().unwrap_or_default().to_owned();
        let inner = reader.acquire_as(Some(&WhileWriting { writer }), None).await?;
        let inner = inner.ok_or(Error::RetriesExhausted("acquire without deadline returned no guard"))?;
        Ok(RwLockGuard { inner, reader: None })
    }

    /// The lock node's path (a fencing token; see also [`RwLockGuard::fenced`]).
    pub fn path(&self) -> &str {
        self.inner.path()
    }

    /// True when this guard holds the write half.
    pub fn is_write(&self) -> bool {
        self.reader.is_some()
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

    /// Releases this guard; the last guard on the node deletes the lock node now.
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
    fn a_read_while_writing_owns_while_the_write_node_stands() {
        let sorted = names(&["a__WRIT__1", "b__READ__2", "c__WRIT__3"]);
        let ours = WhileWriting { writer: "a__WRIT__1".into() };
        assert_eq!(ours.decide(&sorted, "b__READ__2").unwrap(), Decision::Owner);
        let gone = WhileWriting { writer: "z__WRIT__0".into() };
        assert_eq!(gone.decide(&sorted, "b__READ__2"), Err(Error::LockLost));
        assert!(matches!(ours.decide(&sorted, "x"), Err(Error::NodeVanished(_))));
    }

    #[test]
    fn sort_key_is_the_sequence_for_both_kinds() {
        assert_eq!(rw_sort_key("_c_x-__READ__0000000007"), "0000000007");
        assert_eq!(rw_sort_key("_c_x-__WRIT__0000000003"), "0000000003");
        assert_eq!(rw_sort_key("other"), "other");
    }
}
