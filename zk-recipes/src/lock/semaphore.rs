//! [`InterProcessSemaphore`]: Curator's `InterProcessSemaphoreV2` algorithm and layout.
//!
//! Acquiring one lease: take the internal [`InterProcessMutex`] on `<path>/locks` (the shared
//! contention core), create our protected ephemeral-sequential lease node
//! `<path>/leases/_c_<uuid>-lease-<seq>`, then list the leases with a watch: when there are at
//! most `max_leases` of them (ours included) the lease is ours; otherwise wait for the leases
//! (or the shared count) to change and look again. Only the mutex holder ever waits, so the
//! count rule is Curator's and a lease never exceeds the limit. That holds for tasks sharing
//! one handle too: the internal mutex is not re-entrant, so each acquisition takes it anew.
//! (When it was re-entrant per handle, all the tasks of one handle held it at once, each
//! created a lease node, and with more of them than leases every one of them waited: five
//! tasks on a semaphore of three never got a lease.) The mutex is released before
//! returning, whatever the outcome; on timeout, error or cancellation our lease node is
//! deleted.
//!
//! See the [`lock` module docs](super) for Disconnected / Reconnected / Expired.

use std::time::Duration;

use tokio::time::Instant;
use zk_core::path::{join, validate_path};
use zk_core::{Client, CreateMode, OneshotWatcher};

use super::internals::{
    await_change, participants, settle_attempt, sorted_children, wait_loop, StandardDriver,
};
use super::layout::LEASE_NAME;
use super::{wait_lost, wait_not_held, InterProcessMutex, LockStatus, Participant};
use crate::deadline::{deadline_after, deadline_passed, until};
use crate::error::{Error, Result};
use crate::protected::{self, Cleanup};

/// Where the lease limit comes from.
#[derive(Debug, Clone)]
enum MaxLeases {
    Fixed(usize),
    /// A Curator `SharedCount` node: 4 bytes, a big-endian `i32`.
    Shared(String),
}

/// A counting semaphore that interoperates with Apache Curator's `InterProcessSemaphoreV2` on
/// the same path: an [`InterProcessMutex`] on `<path>/locks` serialises acquirers, and each
/// lease is a node `<path>/leases/_c_<uuid>-lease-<seq>` (ephemeral-sequential, protected,
/// container parents) whose data is the participant id ([`InterProcessSemaphore::with_id`]).
///
/// The limit is fixed ([`InterProcessSemaphore::new`]) or read from a Curator `SharedCount`
/// node ([`InterProcessSemaphore::with_shared_count`]) each time an acquirer looks, and
/// watched while it waits, so raising the count lets a waiter in at once. Every process on
/// the path must use the same limit, as with Curator.
///
/// A handle may be shared by tasks, by `Clone` (clones share the handle's state) or by `Arc`,
/// as kazoo's `Semaphore` is: every acquisition is a participant of its own, so the limit
/// holds across tasks as across processes.
///
/// Session events (as for the locks, see [the crate docs](crate#sessions-disconnected-reconnected-expired)): on
/// **Disconnected** a [`Lease`] is [`LockStatus::Suspended`] and waiters keep waiting; on
/// **Reconnected** it is `Held` again; on **Expired** the lease node is gone, the lease is
/// [`LockStatus::Lost`] and [`Lease::release`] fails with [`Error::LockLost`], while a waiter
/// fails with [`Error::SessionEnded`].
///
/// # Examples
///
/// ```
/// use zk_recipes::InterProcessSemaphore;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let sem = InterProcessSemaphore::new(server.client().await?, "/semaphores/db", 2)?;
/// let leases = sem.acquire_many(2).await?;
/// assert!(sem.try_acquire().await?.is_none());
/// for lease in leases {
///     lease.release().await?;
/// }
/// let lease = sem.acquire().await?;
/// assert!(lease.path().starts_with("/semaphores/db/leases/_c_"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct InterProcessSemaphore {
    client: Client,
    leases_path: String,
    mutex: InterProcessMutex,
    max: MaxLeases,
    id: Vec<u8>,
}

impl InterProcessSemaphore {
    /// A semaphore on `path` with `max_leases` leases (nothing is created until the first
    /// acquisition).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path, or
    /// [`Error::InvalidArgument`] when `max_leases` is 0.
    pub fn new(client: Client, path: &str, max_leases: usize) -> Result<Self> {
        if max_leases == 0 {
            return Err(Error::InvalidArgument("max_leases must be at least 1".into()));
        }
        Self::build(client, path, MaxLeases::Fixed(max_leases))
    }

    /// A semaphore on `path` whose lease limit is the value of the Curator `SharedCount` node
    /// at `count_path` (4 bytes, a big-endian `i32`; 0 or less lets nobody in). The node must
    /// exist when acquiring.
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when a path is not valid.
    pub fn with_shared_count(client: Client, path: &str, count_path: &str) -> Result<Self> {
        validate_path(count_path)?;
        Self::build(client, path, MaxLeases::Shared(count_path.to_owned()))
    }

    fn build(client: Client, path: &str, max: MaxLeases) -> Result<Self> {
        validate_path(path)?;
        let mutex = InterProcessMutex::new(client.clone(), &join(path, "locks"))?;
        Ok(InterProcessSemaphore { client, leases_path: join(path, "leases"), mutex, max, id: Vec::new() })
    }

    /// Stores `id` in the lease nodes (see [`InterProcessSemaphore::participants`]) and the
    /// internal mutex nodes of this handle and of clones made from it afterwards.
    pub fn with_id(mut self, id: &[u8]) -> Self {
        self.id = id.to_vec();
        self.mutex = self.mutex.with_id(id);
        self
    }

    /// Waits for one lease.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the session expires or the client is closed while
    /// waiting; [`Error::NodeVanished`] when someone deletes our lease node while we wait;
    /// [`Error::Zk`] for other ZooKeeper errors (retryable ones are retried a bounded number
    /// of times first), including [`zk_core::Error::NoNode`] when the shared count node is
    /// missing; [`Error::Malformed`] when it does not hold 4 bytes. No node is left behind on
    /// error.
    ///
    /// # Cancellation safety
    /// Safe to drop at any await: our lease node and mutex node (created or being created) are
    /// deleted in the background once the session can reach the server.
    pub async fn acquire(&self) -> Result<Lease> {
        let lease = self.acquire_one(None).await?;
        lease.ok_or(Error::RetriesExhausted("acquire without deadline returned no lease"))
    }

    /// Waits for `n` leases, taken one after the other; on error every lease taken so far is
    /// released.
    ///
    /// # Errors
    /// As [`InterProcessSemaphore::acquire`]; also [`Error::InvalidArgument`] when `n` is 0
    /// or exceeds a fixed limit, or `i32::MAX` with a shared count (it could never be
    /// satisfied).
    ///
    /// # Cancellation safety
    /// As [`InterProcessSemaphore::acquire`]: leases taken so far are released in the
    /// background.
    pub async fn acquire_many(&self, n: usize) -> Result<Vec<Lease>> {
        let leases = self.acquire_many_until(n, None).await?;
        leases.ok_or(Error::RetriesExhausted("acquire without deadline returned no lease"))
    }

    /// Takes one lease if one is free right now; `None` otherwise.
    ///
    /// # Errors
    /// As [`InterProcessSemaphore::acquire`].
    ///
    /// # Cancellation safety
    /// As [`InterProcessSemaphore::acquire`].
    pub async fn try_acquire(&self) -> Result<Option<Lease>> {
        self.acquire_one(Some(Instant::now())).await
    }

    /// Waits at most `timeout` (tokio time) for one lease; `None` when the time ran out. A
    /// zero timeout looks once, as [`InterProcessSemaphore::try_acquire`]; one past what the
    /// clock can hold (`Duration::MAX`) is no deadline.
    ///
    /// # Errors
    /// As [`InterProcessSemaphore::acquire`].
    ///
    /// # Cancellation safety
    /// As [`InterProcessSemaphore::acquire`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<Lease>> {
        self.acquire_one(deadline_after(timeout)).await
    }

    /// Waits at most `timeout` for `n` leases; `None` (and none held) when the time ran out.
    /// Zero and huge timeouts as in [`InterProcessSemaphore::acquire_timeout`].
    ///
    /// # Errors
    /// As [`InterProcessSemaphore::acquire_many`].
    ///
    /// # Cancellation safety
    /// As [`InterProcessSemaphore::acquire_many`].
    pub async fn acquire_many_timeout(&self, n: usize, timeout: Duration) -> Result<Option<Vec<Lease>>> {
        self.acquire_many_until(n, deadline_after(timeout)).await
    }

    /// The lease holders (in lease order) with the id in their node.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (a missing leases node is no participants).
    ///
    /// # Cancellation safety
    /// Read-only: safe to drop at any await.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        let driver = StandardDriver { max_leases: 1 };
        let children = sorted_children(&self.client, &self.leases_path, LEASE_NAME, &driver).await?;
        participants(&self.client, &self.leases_path, &children).await
    }

    async fn acquire_many_until(&self, n: usize, deadline: Option<Instant>) -> Result<Option<Vec<Lease>>> {
        // A shared count is an i32: more leases than that could never be granted.
        let limit = match self.max {
            MaxLeases::Fixed(max) => max,
            MaxLeases::Shared(_) => i32::MAX as usize,
        };
        if n == 0 || n > limit {
            let why = format!("cannot acquire {n} leases (limit {:?})", self.max);
            return Err(Error::InvalidArgument(why));
        }
        // Not sized by `n`, which may be huge: leases come one at a time anyway.
        let mut leases = Vec::new();
        for _ in 0..n {
            match self.acquire_one(deadline).await {
                Ok(Some(lease)) => leases.push(lease),
                other => {
                    for lease in leases {
                        let _ = lease.release().await;
                    }
                    return other.map(|_| None);
                }
            }
        }
        Ok(Some(leases))
    }

    /// One lease, giving up at `deadline` (`Some(now)`: a single look).
    async fn acquire_one(&self, deadline: Option<Instant>) -> Result<Option<Lease>> {
        let Some(guard) = self.mutex.acquire_until(deadline).await? else { return Ok(None) };
        let outcome = self.lease_under_lock(deadline).await;
        // Released whatever the outcome; a failure here only delays the next acquirer until
        // the background delete or the session's end.
        if let Err(e) = guard.release().await {
            tracing::debug!(error = %e, "semaphore: releasing the internal mutex failed");
        }
        outcome
    }

    /// With the internal mutex held: create our lease node and wait until it fits.
    async fn lease_under_lock(&self, deadline: Option<Instant>) -> Result<Option<Lease>> {
        let prefix = protected::new_prefix();
        // Taken before the create: a node created across an expiry counts as lost.
        let epoch = self.client.status().epoch;
        let cleanup = Cleanup::for_prefix(&self.client, &self.leases_path, &prefix);
        let create = protected::create(
            &self.client,
            &self.leases_path,
            &prefix,
            LEASE_NAME,
            &self.id,
            CreateMode::EphemeralSequential,
        );
        let Some(created) = until(deadline, create).await else {
            return cleanup.run().await.map(|()| None).map_err(Error::while_waiting);
        };
        let wait = |node: String| async move { self.wait(&node, deadline, epoch).await };
        let node = settle_attempt((&self.client, epoch), cleanup, created, wait).await?;
        Ok(node.map(|node| Lease::new(&self.client, node, epoch)))
    }

    /// True once our lease fits under the limit, false at the deadline.
    async fn wait(&self, node: &str, deadline: Option<Instant>, epoch: u64) -> Result<bool> {
        let name = node.rsplit('/').next().unwrap_or(node);
        // A first look without watches: a lease that fits at once needs none, and a watch
        // dropped unfired costs a RemoveWatches request. A retryable error leaves it to the
        // loop below, which retries.
        match self.fits(name).await {
            Ok(true) => return Ok(true),
            Err(Error::Zk(e)) if e.is_retryable() => {}
            Err(e) => return Err(e),
            Ok(false) => {}
        }
        wait_loop(&self.client, epoch, node, "waiting for a lease", || self.round(name, deadline)).await
    }

    /// Whether our lease fits under the limit now (no watches).
    async fn fits(&self, name: &str) -> Result<bool> {
        let children = self.client.get_children(&self.leases_path).await?;
        self.ensure_listed(name, &children)?;
        let (max, _) = self.max_leases(false).await?;
        Ok(children.len() <= max)
    }

    /// [`Error::NodeVanished`] when our lease node `name` is not among `children`.
    fn ensure_listed(&self, name: &str, children: &[String]) -> Result<()> {
        if children.iter().any(|c| c == name) {
            Ok(())
        } else {
            Err(Error::NodeVanished(join(&self.leases_path, name)))
        }
    }

    /// One look: `Some(true)` ours, `Some(false)` deadline passed, `None` look again.
    async fn round(&self, name: &str, deadline: Option<Instant>) -> Result<Option<bool>> {
        let (children, _, leases_changed) = self.client.get_children_and_watch(&self.leases_path).await?;
        self.ensure_listed(name, &children)?;
        let (max, count_changed) = self.max_leases(true).await?;
        if children.len() <= max {
            return Ok(Some(true));
        }
        if deadline_passed(deadline) {
            return Ok(Some(false));
        }
        let changed = async {
            match count_changed {
                Some(w) => tokio::select! {
                    r = leases_changed => r,
                    r = w => r,
                },
                None => leases_changed.await,
            }
        };
        await_change(deadline, changed).await
    }

    /// The current limit and, for a shared count read with `watch`, a watch on its node.
    async fn max_leases(&self, watch: bool) -> Result<(usize, Option<OneshotWatcher>)> {
        match &self.max {
            MaxLeases::Fixed(n) => Ok((*n, None)),
            MaxLeases::Shared(path) if watch => {
                let (data, _, watcher) = self.client.get_data_and_watch(path).await?;
                Ok((decode_count(path, &data)?, Some(watcher)))
            }
            MaxLeases::Shared(path) => Ok((decode_count(path, &self.client.get_data(path).await?.0)?, None)),
        }
    }
}

/// A Curator `SharedCount` value at `path` (see [`crate::counter::SharedCount`]); negative
/// counts admit nobody.
fn decode_count(path: &str, data: &[u8]) -> Result<usize> {
    Ok(usize::try_from(crate::counter::decode_i32(path, data)?).unwrap_or(0))
}

/// One lease of an [`InterProcessSemaphore`]: its node under `<path>/leases`.
///
/// Dropping it deletes the node in the background (retrying retryable errors until the node
/// is gone or the session ended); [`Lease::release`] does it now and reports errors.
#[derive(Debug)]
#[must_use = "the lease is returned when dropped"]
pub struct Lease {
    client: Client,
    node: String,
    /// The session epoch the lease node was created in.
    epoch: u64,
    /// Armed while the lease is held: deletes the node in the background when dropped.
    cleanup: Cleanup,
}

impl Lease {
    fn new(client: &Client, node: String, epoch: u64) -> Lease {
        Lease { client: client.clone(), cleanup: Cleanup::for_path(client, &node), node, epoch }
    }

    /// The lease node's path.
    pub fn path(&self) -> &str {
        &self.node
    }

    /// The client the lease was taken with.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The lease's status right now, from the session state.
    pub fn status(&self) -> LockStatus {
        LockStatus::of(self.client.status(), self.epoch)
    }

    /// Resolves when the lease may no longer be held: [`LockStatus::Suspended`] on a
    /// disconnect, [`LockStatus::Lost`] when the session ended.
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn suspended(&self) -> LockStatus {
        wait_not_held(&self.client, self.epoch).await
    }

    /// Resolves when the lease is lost for good (the session ended).
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn lost(&self) {
        wait_lost(&self.client, self.epoch).await;
    }

    /// Returns the lease: deletes its node now.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the session ended while the lease was held (the node is gone
    /// already); [`Error::Zk`] when the delete failed with a non-retryable error.
    ///
    /// # Cancellation safety
    /// Dropped before it completes, the delete continues in the background.
    pub async fn release(self) -> Result<()> {
        if self.status() == LockStatus::Lost {
            // Its session ended: the node went with it (the cleanup, dropped, finds nothing).
            return Err(Error::LockLost);
        }
        self.cleanup.run().await.map_err(Error::while_holding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_count_is_a_big_endian_i32() {
        assert_eq!(decode_count("/c", &3i32.to_be_bytes()).unwrap(), 3);
        assert_eq!(decode_count("/c", &(-1i32).to_be_bytes()).unwrap(), 0);
        assert!(matches!(decode_count("/c", b"abc"), Err(Error::Malformed { .. })));
    }
}
