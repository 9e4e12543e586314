//! Barriers with Apache Curator's node layouts.
//!
//! - [`Barrier`] (Curator's `DistributedBarrier`): one node; while it exists, waiters block.
//! - [`DoubleBarrier`] (Curator's `DistributedDoubleBarrier`): N members enter together
//!   (nobody passes until the N-th arrives) and leave together (nobody passes until all
//!   left). Members are ephemeral nodes `<path>/<uuid>`; the N-th member creates
//!   `<path>/ready`, which releases everyone.
//!
//! # Session events
//!
//! Waits survive **Disconnected** / **Reconnected** (watches are re-registered). On
//! **Expired** a wait fails with [`Error::SessionEnded`]; a double-barrier member's node is
//! gone with the session.

use std::time::Duration;

use tokio::time::{timeout_at, Instant};
use zk_core::path::{join, validate_path};
use zk_core::{Client, CreateMode, OneshotWatcher};

use crate::deadline::{deadline_after, deadline_passed, until};
use crate::error::{Error, Result};
use crate::protected::{create_with_parents, Cleanup};
use crate::retry::{retrying, Retries};
use crate::session::ended_since;

/// Curator's `DistributedDoubleBarrier.READY_NODE`.
pub const READY_NODE: &str = "ready";

/// Iterations of a wait loop; each follows a watch event or an error.
const MAX_ROUNDS: u32 = 1_000_000;

/// Waits for `watcher` until `deadline`: `Ok(false)` on timeout.
async fn wait(watcher: OneshotWatcher, deadline: Option<Instant>) -> Result<bool> {
    let fired = match deadline {
        None => watcher.await,
        Some(d) => match timeout_at(d, watcher).await {
            Ok(r) => r,
            Err(_) => return Ok(false),
        },
    };
    fired.map(|_| true).map_err(Error::while_waiting)
}

/// What a round of [`DoubleBarrier::leave`] found.
enum Step {
    /// Everyone has left.
    Done,
    /// The node to wait for went away meanwhile: look again at once.
    Again,
    /// Wait for this node to go.
    Wait(OneshotWatcher),
}

/// Curator's `DistributedBarrier`: while the node at the path exists, [`Barrier::wait`]
/// blocks; removing the node releases every waiter.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zk_recipes::barrier::Barrier;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let barrier = Barrier::new(server.client().await?, "/barriers/deploy")?;
/// barrier.set_barrier().await?;
/// assert!(!barrier.wait_timeout(Duration::from_secs(1)).await?);
/// barrier.remove_barrier().await?;
/// barrier.wait().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Barrier {
    client: Client,
    path: String,
}

impl Barrier {
    /// A barrier at `path`. Nothing is sent yet.
    ///
    /// # Errors
    /// [`Error::Zk`] with `InvalidPath` for a bad path; [`Error::InvalidArgument`] for the
    /// root.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        validate_path(path)?;
        if path == "/" {
            return Err(Error::InvalidArgument("a barrier cannot be the root".into()));
        }
        Ok(Barrier { client, path: path.to_owned() })
    }

    /// Raises the barrier: creates its node (parents as containers); already set is fine.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (retryable ones are retried a bounded number of
    /// times).
    ///
    /// # Cancellation
    /// The node may be created or not.
    pub async fn set_barrier(&self) -> Result<()> {
        let create = || create_with_parents(&self.client, &self.path, b"", CreateMode::Persistent);
        retrying(&self.client, "barrier: creating the node", create).await?;
        Ok(())
    }

    /// Removes the barrier, releasing every waiter; already removed is fine.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (e.g. `NotEmpty` when someone put children under
    /// it).
    ///
    /// # Cancellation
    /// The node may be deleted or not.
    pub async fn remove_barrier(&self) -> Result<()> {
        match retrying(&self.client, "barrier: deleting the node", || self.client.delete(&self.path, None))
            .await
        {
            Ok(()) | Err(zk_core::Error::NoNode) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits until the barrier is removed (at once if it is not set): Curator's
    /// `waitOnBarrier`.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the session ends while waiting; [`Error::Zk`] for other
    /// ZooKeeper errors.
    ///
    /// # Cancellation
    /// Safe: nothing is created.
    pub async fn wait(&self) -> Result<()> {
        self.wait_until(None).await.map(drop)
    }

    /// [`wait`](Self::wait) for at most `timeout` (the crate's one deadline convention):
    /// `false` when the time ran out first; a zero timeout looks once.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    ///
    /// # Cancellation
    /// Safe: nothing is created.
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_until(deadline_after(timeout)).await
    }

    /// Waits until the barrier is removed or `deadline` passes (`false`).
    async fn wait_until(&self, deadline: Option<Instant>) -> Result<bool> {
        let mut retries = Retries::new(&self.client, "barrier wait");
        for _ in 0..MAX_ROUNDS {
            match until(deadline, self.client.exists_and_watch(&self.path)).await {
                None => return Ok(false),
                Some(Ok((None, _))) => return Ok(true),
                Some(Ok((Some(_), watcher))) => {
                    if !wait(watcher, deadline).await? {
                        return Ok(false);
                    }
                }
                Some(Err(e)) if e.is_retryable() => {
                    if deadline_passed(deadline) {
                        return Ok(false);
                    }
                    retries.pause().await;
                }
                Some(Err(e)) => return Err(Error::while_waiting(e)),
            }
        }
        Err(Error::RetriesExhausted("barrier: too many wake-ups"))
    }
}

/// Curator's `DistributedDoubleBarrier`: `member_qty` members [`enter`](Self::enter)
/// together and [`leave`](Self::leave) together.
///
/// Layout (as Curator's): each member is an ephemeral node `<path>/<uuid>` (a new UUID per
/// `DoubleBarrier`); the member that sees `member_qty` members creates the persistent node
/// `<path>/ready` ([`READY_NODE`]) whose creation releases every waiting member; the last
/// member to leave deletes it. One `DoubleBarrier` is one member: use one per participant.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zk_recipes::barrier::DoubleBarrier;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let a = DoubleBarrier::new(server.client().await?, "/barriers/job", 2)?;
/// let b = DoubleBarrier::new(server.client().await?, "/barriers/job", 2)?;
/// let (ra, rb) = tokio::join!(a.enter(), b.enter());
/// ra?;
/// rb?;
/// // ... work together ...
/// let (ra, rb) = tokio::join!(a.leave_timeout(Duration::from_secs(10)), b.leave_timeout(Duration::from_secs(10)));
/// assert!(ra? && rb?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct DoubleBarrier {
    client: Client,
    path: String,
    member_qty: usize,
    our_name: String,
}

impl DoubleBarrier {
    /// Member of the barrier at `path` for `member_qty` members. Nothing is sent yet.
    ///
    /// # Errors
    /// [`Error::Zk`] with `InvalidPath` for a bad path; [`Error::InvalidArgument`] for the
    /// root or `member_qty == 0`.
    pub fn new(client: Client, path: &str, member_qty: usize) -> Result<Self> {
        validate_path(path)?;
        if path == "/" || member_qty == 0 {
            return Err(Error::InvalidArgument(format!(
                "double barrier needs a non-root path and at least one member (path {path:?}, {member_qty} members)"
            )));
        }
        let our_name = uuid::Uuid::new_v4().to_string();
        Ok(DoubleBarrier { client, path: path.to_owned(), member_qty, our_name })
    }

    /// This member's node path (`<path>/<uuid>`).
    pub fn node_path(&self) -> String {
        join(&self.path, &self.our_name)
    }

    fn ready_path(&self) -> String {
        join(&self.path, READY_NODE)
    }

    /// Enters: creates this member's node, then waits until `member_qty` members are in (at
    /// once if the barrier is already ready).
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the session ends while waiting; [`Error::Zk`] for other
    /// ZooKeeper errors (our node is deleted).
    ///
    /// # Cancellation
    /// Dropping the future deletes our node in the background.
    pub async fn enter(&self) -> Result<()> {
        self.enter_until(None).await.map(drop)
    }

    /// [`enter`](Self::enter) for at most `timeout` (the crate's one deadline convention):
    /// `false` when the time ran out first, after deleting our node; a zero timeout creates
    /// our node and looks once.
    ///
    /// # Errors
    /// As [`enter`](Self::enter).
    ///
    /// # Cancellation
    /// As [`enter`](Self::enter).
    pub async fn enter_timeout(&self, timeout: Duration) -> Result<bool> {
        self.enter_until(deadline_after(timeout)).await
    }

    /// Enters, or gives up at `deadline` (`false`).
    async fn enter_until(&self, deadline: Option<Instant>) -> Result<bool> {
        let ours = self.node_path();
        let cleanup = Cleanup::for_path(&self.client, &ours);
        // The session our node lives in: if it ends while we enter, so does our membership.
        let epoch = self.client.status().epoch;
        match until(deadline, self.create_member(&ours)).await {
            None => {
                cleanup.run().await?;
                return Ok(false);
            }
            Some(Err(e)) if e.is_session_ended() => {
                // Our node, if created, went with the session. A delete by path on the
                // client's next session could only remove the node of a later `enter` of
                // this member (same name) there.
                cleanup.disarm();
                return Err(e);
            }
            Some(r) => r?,
        }
        if let Some(ended) = ended_since(&self.client, epoch) {
            // A create retried across the expiry may have landed on the new session: the
            // cleanup deletes that node (by path, in the background).
            drop(cleanup);
            return Err(ended);
        }
        match self.wait_ready(deadline, epoch).await {
            Ok(true) => {
                cleanup.disarm();
                Ok(true)
            }
            Ok(false) => {
                cleanup.run().await?;
                Ok(false)
            }
            Err(e) if e.is_session_ended() => {
                // As above: the node is gone with the session.
                cleanup.disarm();
                Err(e)
            }
            Err(e) => {
                drop(cleanup);
                Err(e)
            }
        }
    }

    async fn create_member(&self, ours: &str) -> Result<()> {
        // The name is ours alone: an existing node means an earlier attempt got through.
        let create = || create_with_parents(&self.client, ours, b"", CreateMode::Ephemeral);
        retrying(&self.client, "double barrier: creating our node", create)
            .await
            .map_err(Error::while_waiting)?;
        Ok(())
    }

    /// Waits until `ready` exists, creating it when we see enough members, while the
    /// session of epoch `epoch` (that of our node) lasts.
    async fn wait_ready(&self, deadline: Option<Instant>, epoch: u64) -> Result<bool> {
        let ready = self.ready_path();
        let mut retries = Retries::new(&self.client, "double barrier enter");
        for _ in 0..MAX_ROUNDS {
            // A retry on the client's next session would wait without our node.
            if let Some(ended) = ended_since(&self.client, epoch) {
                return Err(ended);
            }
            let step = async {
                let (stat, watcher) = self.client.exists_and_watch(&ready).await?;
                if stat.is_some() {
                    return Ok(None);
                }
                let children = self.client.get_children(&self.path).await?;
                let members = children.iter().filter(|c| *c != READY_NODE).count();
                if children.iter().any(|c| c == READY_NODE) {
                    return Ok(None);
                }
                if members >= self.member_qty {
                    match self.client.create(&ready, b"", CreateMode::Persistent).await {
                        Ok(_) | Err(zk_core::Error::NodeExists) => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Some(watcher))
            };
            match until(deadline, step).await {
                None => return Ok(false),
                Some(Ok(None)) => return Ok(true),
                Some(Ok(Some(watcher))) => {
                    retries.reset();
                    if !wait(watcher, deadline).await? {
                        return Ok(false);
                    }
                }
                Some(Err(e)) if e.is_retryable() => {
                    if deadline_passed(deadline) {
                        return Ok(false);
                    }
                    retries.pause().await;
                }
                Some(Err(e)) => return Err(Error::while_waiting(e)),
            }
        }
        Err(Error::RetriesExhausted("double barrier: too many wake-ups while entering"))
    }

    /// Leaves: deletes this member's node and waits until every member has left; then the
    /// `ready` node is deleted. Curator's algorithm: the member with the lowest node waits
    /// for the highest; every other member deletes its node and waits for the lowest.
    ///
    /// # Errors
    /// [`Error::NodeVanished`] when our node disappeared while we still had to hold it
    /// (deleted by someone else, or the session expired and was replaced);
    /// [`Error::SessionEnded`] when the session ends while waiting; [`Error::Zk`] for other
    /// ZooKeeper errors.
    ///
    /// # Cancellation
    /// Safe to drop: at worst our node is already deleted and the others are still waiting
    /// for the rest; a new `leave` on the same member resumes.
    pub async fn leave(&self) -> Result<()> {
        self.leave_until(None).await.map(drop)
    }

    /// [`leave`](Self::leave) for at most `timeout` (the crate's one deadline convention):
    /// `false` when the time ran out first (our node may already be deleted); a zero timeout
    /// looks once.
    ///
    /// # Errors
    /// As [`leave`](Self::leave).
    ///
    /// # Cancellation
    /// As [`leave`](Self::leave).
    pub async fn leave_timeout(&self, timeout: Duration) -> Result<bool> {
        self.leave_until(deadline_after(timeout)).await
    }

    /// Leaves, or gives up at `deadline` (`false`).
    async fn leave_until(&self, deadline: Option<Instant>) -> Result<bool> {
        let ours = self.node_path();
        let mut ours_exists = self.client.exists(&ours).await.map_err(Error::while_waiting)?.is_some();
        let mut retries = Retries::new(&self.client, "double barrier leave");
        let mut done = false;
        for _ in 0..MAX_ROUNDS {
            match until(deadline, self.leave_step(&ours, &mut ours_exists)).await {
                None => return Ok(false),
                Some(Ok(Step::Done)) => {
                    done = true;
                    break;
                }
                Some(Ok(Step::Again)) => retries.reset(),
                Some(Ok(Step::Wait(watcher))) => {
                    retries.reset();
                    if !wait(watcher, deadline).await? {
                        return Ok(false);
                    }
                }
                Some(Err(Error::Zk(e))) if e.is_retryable() => {
                    if deadline_passed(deadline) {
                        return Ok(false);
                    }
                    retries.pause().await;
                }
                Some(Err(Error::Zk(e))) => return Err(Error::while_waiting(e)),
                Some(Err(e)) => return Err(e),
            }
        }
        if !done {
            return Err(Error::RetriesExhausted("double barrier: too many wake-ups while leaving"));
        }
        match self.client.delete(&self.ready_path(), None).await {
            Ok(()) | Err(zk_core::Error::NoNode | zk_core::Error::NotEmpty) => Ok(true),
            Err(e) => Err(Error::while_waiting(e)),
        }
    }

    /// One round of `leave`.
    async fn leave_step(&self, ours: &str, ours_exists: &mut bool) -> Result<Step> {
        let mut children = match self.client.get_children(&self.path).await {
            Ok(c) => c,
            Err(zk_core::Error::NoNode) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        children.retain(|c| c != READY_NODE);
        children.sort();
        let index = children.iter().position(|c| *c == self.our_name);
        if index.is_none() && *ours_exists {
            return Err(Error::NodeVanished(ours.to_owned()));
        }
        let (Some(lowest), Some(highest)) = (children.first(), children.last()) else {
            return Ok(Step::Done);
        };
        if children.len() == 1 && index == Some(0) {
            // We are the last one in.
            self.delete_ours(ours).await?;
            *ours_exists = false;
            return Ok(Step::Done);
        }
        // Someone else is still in (even when we already left, in an earlier call that gave
        // up): the lowest waits for the highest, everyone else for the lowest.
        let target = if index == Some(0) {
            join(&self.path, highest)
        } else {
            if *ours_exists {
                self.delete_ours(ours).await?;
                *ours_exists = false;
            }
            join(&self.path, lowest)
        };
        match self.client.exists_and_watch(&target).await? {
            (None, _) => Ok(Step::Again),
            (Some(_), watcher) => Ok(Step::Wait(watcher)),
        }
    }

    async fn delete_ours(&self, ours: &str) -> Result<()> {
        match self.client.delete(ours, None).await {
            Ok(()) | Err(zk_core::Error::NoNode) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
