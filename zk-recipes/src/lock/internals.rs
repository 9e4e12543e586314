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

use tokio::time::{timeout_at, Instant};
use tracing::Instrument;
use zk_core::path::join;
use zk_core::{Client, CreateMode};

use super::Participant;
use crate::deadline::deadline_passed;
use crate::error::{Error, Result};
use crate::protected::{self, Cleanup};
use crate::retry::Retries;

/// Rounds of the wait loop (one per look at the children) before giving up. A round follows
/// a change of the watched node or a retryable error, so this is never reached in practice.
const MAX_ROUNDS: u32 = 1_000_000;

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

/// The children of `dir` in lock order (sorted by `driver` with `lock_name`, see
/// [`sort_children`]); none when `dir` does not exist.
pub(crate) async fn sorted_children(
    client: &Client,
    dir: &str,
    lock_name: &str,
    driver: &dyn LockDriver,
) -> zk_core::Result<Vec<String>> {
    let mut children = match client.get_children(dir).await {
        Ok(c) => c,
        Err(zk_core::Error::NoNode) => Vec::new(),
        Err(e) => return Err(e),
    };
    sort_children(driver, lock_name, &mut children);
    Ok(children)
}

/// The participants named `names` (children of `dir`), in that order, with the data of each
/// node as its id. All reads are sent before the first is awaited (one round trip); a node
/// gone meanwhile is skipped.
pub(crate) async fn participants(client: &Client, dir: &str, names: &[String]) -> Result<Vec<Participant>> {
    let reads: Vec<_> = names
        .iter()
        .map(|name| {
            let node = join(dir, name);
            (client.get_data(&node), node)
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

/// Waits for `changed` (a watch, or a choice of watches) until `deadline`: `None` (look
/// again) once it fired, `Some(false)` when the deadline came first, its error as
/// [`Error::Zk`].
pub(crate) async fn await_change<T>(
    deadline: Option<Instant>,
    changed: impl Future<Output = zk_core::Result<T>>,
) -> Result<Option<bool>> {
    let fired = match deadline {
        None => changed.await,
        Some(d) => match timeout_at(d, changed).await {
            Ok(r) => r,
            Err(_) => return Ok(Some(false)),
        },
    };
    fired.map(|_| None).map_err(Error::Zk)
}

/// The wait loop of a lock or semaphore whose node is `node`: runs `round` (one look, as
/// `LockInternals::round`) until it returns `Some(owner)`. A retryable [`Error::Zk`] is
/// retried under `client`'s retry policy (the count starts again after each round that got
/// somewhere); any other ZooKeeper error is mapped by [`Error::while_waiting`], a recipe
/// error returned as is. After [`MAX_ROUNDS`] rounds: [`Error::RetriesExhausted`] with `what`.
pub(crate) async fn wait_loop<F>(
    client: &Client,
    epoch: u64,
    node: &str,
    what: &'static str,
    mut round: impl FnMut() -> F,
) -> Result<bool>
where
    F: Future<Output = Result<Option<bool>>>,
{
    let mut retries = Retries::new(client, what);
    // `epoch` is the session our node was created in: once it ended, the node went with it,
    // and a round retried on the client's next session would only find it gone.
    for _ in 0..MAX_ROUNDS {
        match round().await {
            Ok(Some(owner)) => return Ok(owner),
            Ok(None) => retries.reset(),
            Err(e) => {
                if let Some(ended) = crate::session::ended_since(client, epoch) {
                    return Err(ended);
                }
                retries.absorb(e).instrument(tracing::debug_span!("wait_loop", node)).await?;
                if let Some(ended) = crate::session::ended_since(client, epoch) {
                    return Err(ended);
                }
            }
        }
    }
    Err(Error::RetriesExhausted(what))
}

/// Finishes an attempt whose protected create returned `created`, `cleanup` being armed for
/// that create: once the node exists, `wait`s on it and hands it over when `wait` says it is
/// ours (`Some`, `cleanup` disarmed), or deletes it when `wait` gave up at the deadline
/// (`None`) or failed. Dropped at any await, the node is deleted in the background.
pub(crate) async fn settle_attempt<F>(
    (client, epoch): (&Client, u64),
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
        Ok(true) => match crate::session::ended_since(client, epoch) {
            // The attempt spanned an expiry: a create retried on the client's new session
            // made this node there, and a guard of the old session could never give it back
            // (nobody would hold the lock while that session lives). The armed cleanup
            // deletes it, in the background.
            Some(ended) => Err(ended),
            None => {
                cleanup.disarm();
                Ok(Some(ours))
            }
        },
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
        sorted_children(&self.client, &self.path, &self.lock_name, self.driver.as_ref()).await
    }

    /// Creates our node with `data` and waits until the driver (`driver`, else this core's own)
    /// says we own the lock, or until `deadline` (`Some(now)` gives up at once if not owner).
    /// Returns the node's path, or `None` at the deadline (our node deleted).
    ///
    /// Cancellation safe: dropped at any await, our node (created or still in flight) is
    /// deleted in the background.
    pub(crate) async fn attempt(
        &self,
        driver: Option<&dyn LockDriver>,
        data: &[u8],
        deadline: Option<Instant>,
        epoch: u64,
    ) -> Result<Option<String>> {
        let driver = driver.unwrap_or(self.driver.as_ref());
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
        settle_attempt((&self.client, epoch), cleanup, created, |ours| async move {
            self.wait(driver, &ours, deadline, epoch).await
        })
        .await
    }

    /// The wait loop: true once `driver` says we own the lock, false at the deadline.
    async fn wait(
        &self,
        driver: &dyn LockDriver,
        ours: &str,
        deadline: Option<Instant>,
        epoch: u64,
    ) -> Result<bool> {
        let name = ours.rsplit('/').next().unwrap_or(ours);
        wait_loop(&self.client, epoch, ours, "waiting for the lock", || self.round(driver, name, deadline))
            .await
    }

    /// One look at the children: `Some(true)` owner, `Some(false)` deadline passed, `None`
    /// look again (the watched node changed or was already gone).
    async fn round(
        &self,
        driver: &dyn LockDriver,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<Option<bool>> {
        let children = sorted_children(&self.client, &self.path, &self.lock_name, driver).await?;
        let watch = match driver.decide(&children, name)? {
            Decision::Owner => return Ok(Some(true)),
            Decision::Watch(w) => w,
        };
        if deadline_passed(deadline) {
            return Ok(Some(false));
        }
        // getData rather than exists, as Curator does: a predecessor that is already gone
        // leaves no watch behind, and we simply look again.
        let watcher = match self.client.get_data_and_watch(&join(&self.path, &watch)).await {
            Ok((_, _, w)) => w,
            Err(zk_core::Error::NoNode) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        await_change(deadline, watcher).await
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

    #[tokio::test(start_paused = true)]
    async fn wait_loop_retries_under_the_clients_policy_and_maps_errors() {
        use std::cell::Cell;
        let server = zk_testing::TestServer::builder().no_tcp().seed(3).start().await.unwrap();
        let policy = zk_core::RetryPolicy::NTimes { n: 4, delay: std::time::Duration::from_millis(10) };
        let c = server.client_builder().retry_policy(policy).connect().await.unwrap();
        // Retryable errors: the policy's retries, then the error itself.
        let calls = Cell::new(0);
        let r = wait_loop(&c, 0, "/n", "x", || {
            calls.set(calls.get() + 1);
            async { Err(Error::Zk(zk_core::Error::ConnectionLoss)) }
        })
        .await;
        assert_eq!(r, Err(Error::Zk(zk_core::Error::ConnectionLoss)));
        assert_eq!(calls.get(), 5);
        // The session's end while waiting.
        let r =
            wait_loop(&c, 0, "/n", "x", || async { Err(Error::Zk(zk_core::Error::SessionExpired)) }).await;
        assert_eq!(r, Err(Error::SessionEnded(zk_core::Error::SessionExpired)));
        // A recipe error as is; a decision as is; "look again" resets the retries.
        let r = wait_loop(&c, 0, "/n", "x", || async { Err(Error::NodeVanished("/n".into())) }).await;
        assert_eq!(r, Err(Error::NodeVanished("/n".into())));
        let calls = Cell::new(0u32);
        let r = wait_loop(&c, 0, "/n", "x", || {
            let n = calls.get();
            calls.set(n + 1);
            async move {
                match n {
                    _ if n < 20 && n % 2 == 0 => Err(Error::Zk(zk_core::Error::ConnectionLoss)),
                    _ if n < 20 => Ok(None),
                    _ => Ok(Some(false)),
                }
            }
        })
        .await;
        assert_eq!(r, Ok(false));
        // The session the node was created in ended (the client renewed it): a node missing
        // on the new session went with the old one, and the wait says so.
        assert!(server.expire_session(c.session_id()));
        c.state_watch().wait_for(|s| s.epoch == 1 && s.state.is_connected()).await.unwrap();
        let r = wait_loop(&c, 0, "/n", "x", || async { Err(Error::NodeVanished("/n".into())) }).await;
        assert_eq!(r, Err(Error::SessionEnded(zk_core::Error::SessionExpired)));
        let r = wait_loop(&c, 1, "/n", "x", || async { Err(Error::NodeVanished("/n".into())) }).await;
        assert_eq!(r, Err(Error::NodeVanished("/n".into())), "in its own session, someone deleted it");
    }

    #[test]
    fn sort_key_is_the_text_after_the_last_lock_name() {
        assert_eq!(standard_sort_key("_c_x-lock-0000000003", "lock-"), "0000000003");
        assert_eq!(standard_sort_key("lock-", "lock-"), "");
        assert_eq!(standard_sort_key("other", "lock-"), "other");
    }
}
