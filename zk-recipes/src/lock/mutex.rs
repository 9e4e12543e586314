//! [`InterProcessMutex`]: a re-entrant distributed mutex, Curator's `InterProcessMutex`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::{timeout_at, Instant};
use zk_core::path::validate_path;
use zk_core::{Client, Op, OpResult};

use super::internals::{LockInternals, StandardDriver};
use super::layout::MUTEX_LOCK_NAME;
use super::{wait_lost, wait_not_held, LockStatus, Participant};
use crate::error::{Error, Result};
use crate::protected::Cleanup;

/// A distributed mutex that interoperates with Apache Curator's `InterProcessMutex` on the
/// same path: nodes `<path>/_c_<uuid>-lock-<seq>` (ephemeral-sequential, protected), parents
/// created as containers, ordered by the sequence after `lock-`. The node's data is the
/// participant id ([`InterProcessMutex::with_id`], empty by default).
///
/// Waiting is fair (first come, first served) and herd-free: each waiter watches only the
/// node just before its own.
///
/// Re-entrant per handle: while this handle holds the lock, acquiring again returns another
/// guard at once (one znode, a count); the node is deleted when the last guard goes. Use one
/// handle per logical owner; share it (`Arc`) only between tasks that act as one owner.
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
#[derive(Debug)]
pub struct InterProcessMutex {
    shared: Arc<Shared>,
    id: Vec<u8>,
    /// Serialises acquisitions through this handle, so concurrent calls re-enter rather than
    /// create two nodes.
    gate: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Shared {
    internals: LockInternals,
    held: Mutex<Option<Held>>,
}

#[derive(Debug)]
struct Held {
    node: String,
    count: usize,
}

impl Shared {
    fn held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One guard fewer; the node to delete when it was the last.
    fn leave(&self) -> Option<String> {
        let mut held = self.held();
        let h = held.as_mut()?;
        h.count -= 1;
        if h.count == 0 {
            held.take().map(|h| h.node)
        } else {
            None
        }
    }
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
        let shared = Arc::new(Shared { internals, held: Mutex::new(None) });
        Ok(InterProcessMutex { shared, id: Vec::new(), gate: tokio::sync::Mutex::new(()) })
    }

    /// Stores `id` in this handle's lock nodes (see [`InterProcessMutex::participants`]).
    pub fn with_id(mut self, id: &[u8]) -> Self {
        self.id = id.to_vec();
        self
    }

    /// The lock path.
    pub fn path(&self) -> &str {
        self.shared.internals.path()
    }

    /// True while a guard acquired through this handle is alive.
    pub fn is_held(&self) -> bool {
        self.shared.held().is_some()
    }

    /// Waits until the lock is ours.
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
        let guard = self.acquire_until(None, false).await?;
        guard.ok_or(Error::RetriesExhausted("acquire without deadline returned no guard"))
    }

    /// Takes the lock if it is free (or held through this handle) right now.
    ///
    /// Returns `None` when another participant holds it, or when another acquisition through
    /// this handle is in progress.
    ///
    /// # Errors
    /// As [`InterProcessMutex::acquire`].
    ///
    /// # Cancellation safety
    /// As [`InterProcessMutex::acquire`].
    pub async fn try_acquire(&self) -> Result<Option<MutexGuard>> {
        // No outer bound: the create and one look at the children must complete.
        self.acquire_until(Some(Instant::now()), false).await
    }

    /// Waits at most `timeout` (tokio time) for the lock; `None` when the time ran out (our
    /// node is then deleted).
    ///
    /// # Errors
    /// As [`InterProcessMutex::acquire`].
    ///
    /// # Cancellation safety
    /// As [`InterProcessMutex::acquire`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<MutexGuard>> {
        self.acquire_until(Some(Instant::now() + timeout), true).await
    }

    /// Acquires, giving up at `deadline` once not the owner; `bounded` also stops the create
    /// and the reads at the deadline (the attempt then cleans up in the background).
    async fn acquire_until(&self, deadline: Option<Instant>, bounded: bool) -> Result<Option<MutexGuard>> {
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
        let attempt = self.shared.internals.attempt(&self.id, deadline);
        let node = match deadline {
            Some(d) if bounded => timeout_at(d, attempt).await.unwrap_or(Ok(None))?,
            _ => attempt.await?,
        };
        Ok(node.map(|node| {
            *self.shared.held() = Some(Held { node: node.clone(), count: 1 });
            MutexGuard { shared: self.shared.clone(), node, released: false }
        }))
    }

    fn reenter(&self) -> Option<MutexGuard> {
        let mut held = self.shared.held();
        let h = held.as_mut()?;
        h.count += 1;
        Some(MutexGuard { shared: self.shared.clone(), node: h.node.clone(), released: false })
    }

    /// Every participant (holder first, then waiters in lock order), with the id in its node.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (a missing lock path is no participants).
    ///
    /// # Cancellation safety
    /// Read-only: safe to drop at any await.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        let internals = &self.shared.internals;
        let children = internals.sorted_children().await?;
        let reads: Vec<_> = children
            .iter()
            .map(|c| {
                let node = zk_core::path::join(internals.path(), c);
                (internals.client().get_data(&node), node)
            })
            .collect();
        let mut out = Vec::with_capacity(reads.len());
        for (read, node) in reads {
            match read.await {
                Ok((id, _)) => out.push(Participant { node, id }),
                Err(zk_core::Error::NoNode) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }
}

/// One acquisition of an [`InterProcessMutex`]. The lock is released when the last guard of
/// the handle is released or dropped.
///
/// Dropping a guard deletes the node in the background (retrying retryable errors until the
/// node is gone or the session ended); [`MutexGuard::release`] does it now and reports errors.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct MutexGuard {
    shared: Arc<Shared>,
    node: String,
    released: bool,
}

impl MutexGuard {
    /// The lock node's path. Its sequence number grows with each new holder, so it serves as
    /// a fencing token; see also [`MutexGuard::fenced`].
    pub fn path(&self) -> &str {
        &self.node
    }

    /// The lock's status right now, from the session state.
    pub fn status(&self) -> LockStatus {
        LockStatus::from_session(self.client().state())
    }

    /// Resolves when the lock may no longer be held: with [`LockStatus::Suspended`] on a
    /// disconnect, or [`LockStatus::Lost`] when the session ended.
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn suspended(&self) -> LockStatus {
        wait_not_held(self.client()).await
    }

    /// Resolves when the lock is lost for good (the session ended).
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn lost(&self) {
        wait_lost(self.client()).await;
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
        super::fenced_multi(self.client(), &self.node, ops).await
    }

    /// Releases this acquisition; the last one of the handle deletes the lock node now.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the session ended while the lock was held (the node is gone
    /// already); [`Error::Zk`] when the delete failed with a non-retryable error.
    ///
    /// # Cancellation safety
    /// Dropped before it completes, the delete continues in the background.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        match self.shared.leave() {
            Some(node) => Cleanup::for_path(self.client(), &node).run().await.map_err(Error::while_holding),
            None if self.status() == LockStatus::Lost => Err(Error::LockLost),
            None => Ok(()),
        }
    }

    fn client(&self) -> &Client {
        self.shared.internals.client()
    }
}

impl Drop for MutexGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Some(node) = self.shared.leave() {
            // An armed cleanup deletes the node from a background task when dropped.
            drop(Cleanup::for_path(self.client(), &node));
        }
    }
}
