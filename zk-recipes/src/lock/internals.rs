//! The contention core every lock shares (Curator's `LockInternals` with a driver).
//!
//! A participant creates an ephemeral-sequential, protected node `<path>/_c_<uuid>-<lock
//! name><seq>`, lists the children, sorts them by the text after the lock name, and asks its
//! [`LockDriver`] whether it owns the lock or which single node to wait for. It then watches
//! only that node (no herd effect: a release wakes one waiter) and looks again when it goes.
//! The mutex uses [`StandardDriver`] with one lease; a semaphore uses it with N; a read/write
//! lock brings its own drivers with the lock names `__READ__` and `__WRIT__`.

use std::cmp::Ordering;
use std::future::Future;

use tokio::time::Instant;
use zk_core::path::join;
use zk_core::{Client, CreateMode};

use crate::error::{Error, Result};
use crate::protected::{self, backoff, Cleanup};

/// Rounds of the wait loop (one per look at the children) before giving up. A round follows
/// a change of the watched node or a retryable error, so this is never reached in practice.
const MAX_ROUNDS: u32 = 1_000_000;
/// Consecutive retryable errors tolerated while waiting.
const MAX_RETRIES: u32 = 60;

/// What a participant should do after looking at the sorted children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// It owns the lock.
    Owner,
    /// It waits until this child (a node name) is gone or changed, then looks again.
    Watch(String),
}

/// Decides ownership from the sorted children (Curator's `LockInternalsDriver`).
pub(crate) trait LockDriver: Send + Sync + std::fmt::Debug {
    /// The key children sort by (Curator's `fixForSorting`).
    fn sort_key<'a>(&self, child: &'a str, lock_name: &str) -> &'a str {
        standard_sort_key(child, lock_name)
    }

    /// Whether `ours` (a node name in `sorted`) owns the lock, else which node to watch.
    ///
    /// # Errors
    /// [`Error::NodeVanished`] when `ours` is not among the children.
    fn decide(&self, sorted: &[String], ours: &str) -> Result<Decision>;
}

/// Curator's `StandardLockInternalsDriver`: the first `max_leases` children own the lock;
/// any other waits for the child `max_leases` places before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StandardDriver {
    /// How many participants may hold the lock at once (1 for a mutex).
    pub(crate) max_leases: usize,
}

impl LockDriver for StandardDriver {
    fn decide(&self, sorted: &[String], ours: &str) -> Result<Decision> {
        let index =
            sorted.iter().position(|c| c == ours).ok_or_else(|| Error::NodeVanished(ours.to_owned()))?;
        if index < self.max_leases {
            Ok(Decision::Owner)
        } else {
            Ok(Decision::Watch(sorted[index - self.max_leases].clone()))
        }
    }
}

/// The text after the last occurrence of `lock_name` (empty if it ends the name), or the whole
/// name when `lock_name` does not occur: exactly Curator's `fixForSorting`.
pub(crate) fn standard_sort_key<'a>(child: &'a str, lock_name: &str) -> &'a str {
    match child.rfind(lock_name) {
        Some(i) => &child[i + lock_name.len()..],
        None => child,
    }
}

/// Sorts children as Curator does: by sort key, stably, comparing the keys as strings (the
/// keys are ASCII, where Java's UTF-16 order and byte order agree).
pub(crate) fn sort_children(driver: &dyn LockDriver, lock_name: &str, children: &mut [String]) {
    children.sort_by(|a, b| -> Ordering { driver.sort_key(a, lock_name).cmp(driver.sort_key(b, lock_name)) });
}

/// Finishes an attempt whose protected create returned `created`, `cleanup` being armed for
/// that create: once the node exists, `wait`s on it and hands it over when `wait` says it is
/// ours (`Some`, `cleanup` disarmed), or deletes it when `wait` gave up at the deadline
/// (`None`) or failed. Dropped at any await, the node is deleted in the background.
pub(crate) async fn settle_attempt<F>(
    mut cleanup: Cleanup,
    created: zk_core::Result<String>,
    wait: impl FnOnce(String) -> F,
) -> Result<Option<String>>
where
    F: Future<Output = Result<bool>>,
{
    let ours = match created {
        Ok(p) => p,
        Err(e) => {
            // Terminal: the node (if any) died with the session; otherwise delete it.
            let _ = cleanup.run().await;
            return Err(Error::while_waiting(e));
        }
    };
    cleanup.created(&ours);
    match wait(ours.clone()).await {
        Ok(true) => {
            cleanup.disarm();
            Ok(Some(ours))
        }
        Ok(false) => cleanup.run().await.map(|()| None).map_err(Error::while_waiting),
        Err(e) => {
            let _ = cleanup.run().await;
            Err(e)
        }
    }
}

/// One lock path, one lock name, one driver: creates nodes and waits for ownership.
#[derive(Debug)]
pub(crate) struct LockInternals {
    client: Client,
    path: String,
    lock_name: String,
    driver: Box<dyn LockDriver>,
}

impl LockInternals {
    /// A core for the lock at `path` (already validated) whose nodes are named
    /// `_c_<uuid>-<lock_name><seq>`.
    pub(crate) fn new(client: Client, path: &str, lock_name: &str, driver: Box<dyn LockDriver>) -> Self {
        LockInternals { client, path: path.to_owned(), lock_name: lock_name.to_owned(), driver }
    }

    /// The client.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The lock path.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The children of the lock path in lock order (none when the path does not exist).
    pub(crate) async fn sorted_children(&self) -> zk_core::Result<Vec<String>> {
        let mut children = match self.client.get_children(&self.path).await {
            Ok(c) => c,
            Err(zk_core::Error::NoNode) => Vec::new(),
            Err(e) => return Err(e),
        };
        sort_children(self.driver.as_ref(), &self.lock_name, &mut children);
        Ok(children)
    }

    /// Creates our node with `data` and waits until the driver says we own the lock, or until
    /// `deadline` (`Some(now)` gives up at once if not owner). Returns the node's path, or
    /// `None` at the deadline (our node deleted).
    ///
    /// Cancellation safe: dropped at any await, our node (created or still in flight) is
    /// deleted in the background.
    pub(crate) async fn attempt(&self, data: &[u8], deadline: Option<Instant>) -> Result<Option<String>> {
        let prefix = protected::new_prefix();
        let cleanup = Cleanup::for_prefix(&self.client, &self.path, &prefix);
        let created = protected::create(
            &self.client,
            &self.path,
            &prefix,
            &self.lock_name,
            data,
            CreateMode::EphemeralSequential,
        )
        .await;
        settle_attempt(cleanup, created, |ours| async move { self.wait(&ours, deadline).await }).await
    }

    /// The wait loop: true once we own the lock, false at the deadline.
    async fn wait(&self, ours: &str, deadline: Option<Instant>) -> Result<bool> {
        let name = ours.rsplit('/').next().unwrap_or(ours);
        let mut retries = 0;
        for _ in 0..MAX_ROUNDS {
            match self.round(name, deadline).await {
                Ok(Some(owner)) => return Ok(owner),
                Ok(None) => retries = 0,
                Err(e) if e.is_retryable() && retries < MAX_RETRIES => {
                    tracing::debug!(node = %ours, error = ?e, "lock wait: retrying");
                    backoff(retries).await;
                    retries += 1;
                }
                Err(e) => return Err(Error::while_waiting_round(e)),
            }
        }
        Err(Error::RetriesExhausted("waiting for the lock"))
    }

    /// One look at the children: `Some(true)` owner, `Some(false)` deadline passed, `None`
    /// look again (the watched node changed or was already gone).
    async fn round(
        &self,
        name: &str,
        deadline: Option<Instant>,
    ) -> std::result::Result<Option<bool>, RoundError> {
        let children = self.sorted_children().await?;
        let watch = match self.driver.decide(&children, name)? {
            Decision::Owner => return Ok(Some(true)),
            Decision::Watch(w) => w,
        };
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Ok(Some(false));
        }
        // getData rather than exists, as Curator does: a predecessor that is already gone
        // leaves no watch behind, and we simply look again.
        let watcher = match self.client.get_data_and_watch(&join(&self.path, &watch)).await {
            Ok((_, _, w)) => w,
            Err(zk_core::Error::NoNode) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let fired = match deadline {
            None => watcher.await,
            Some(d) => match tokio::time::timeout_at(d, watcher).await {
                Ok(r) => r,
                Err(_) => return Ok(Some(false)),
            },
        };
        fired.map(|_| None).map_err(RoundError::from)
    }
}

/// An error of one round: a ZooKeeper error (maybe retryable) or a recipe error.
#[derive(Debug)]
enum RoundError {
    Zk(zk_core::Error),
    Recipe(Error),
}

impl RoundError {
    fn is_retryable(&self) -> bool {
        matches!(self, RoundError::Zk(e) if e.is_retryable())
    }
}

impl From<zk_core::Error> for RoundError {
    fn from(e: zk_core::Error) -> Self {
        RoundError::Zk(e)
    }
}

impl From<Error> for RoundError {
    fn from(e: Error) -> Self {
        RoundError::Recipe(e)
    }
}

impl Error {
    fn while_waiting_round(e: RoundError) -> Error {
        match e {
            RoundError::Zk(e) => Error::while_waiting(e),
            RoundError::Recipe(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_driver_decides_like_curator() {
        let d = StandardDriver { max_leases: 1 };
        let sorted: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(d.decide(&sorted, "a").unwrap(), Decision::Owner);
        assert_eq!(d.decide(&sorted, "c").unwrap(), Decision::Watch("b".into()));
        assert_eq!(d.decide(&sorted, "x"), Err(Error::NodeVanished("x".into())));
        let two = StandardDriver { max_leases: 2 };
        assert_eq!(two.decide(&sorted, "b").unwrap(), Decision::Owner);
        assert_eq!(two.decide(&sorted, "c").unwrap(), Decision::Watch("a".into()));
    }

    #[test]
    fn sort_key_is_the_text_after_the_last_lock_name() {
        assert_eq!(standard_sort_key("_c_x-lock-0000000003", "lock-"), "0000000003");
        assert_eq!(standard_sort_key("lock-", "lock-"), "");
        assert_eq!(standard_sort_key("other", "lock-"), "other");
    }
}
