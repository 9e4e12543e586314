//! [`LeaderLatch`]: Curator's `LeaderLatch` with a stream of leadership events.
//!
//! Each participant creates an ephemeral-sequential, protected node
//! `<path>/_c_<uuid>-latch-<seq>` holding its id, sorts the children as Curator does (by the
//! text after `latch-`), and is the leader when the first node is its own **and** is owned by
//! its current session (Curator's double-leader guard). Any other participant watches only
//! its predecessor, so a leadership change fires one watch notification, not one per
//! participant. The whole election runs in one background task per latch.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zk_core::path::{join, validate_path};
use zk_core::{Client, CreateMode, OneshotWatcher};

use super::ConnectionPolicy;
use crate::deadline::within;
use crate::error::{Error, Result};
use crate::lifecycle::Lifecycle;
use crate::lock::Participant;
use crate::protected::{self, Cleanup};
use crate::retry::Retries;
use crate::session::{ConnectionState, SessionTracker};

/// The name of latch nodes, after the protected prefix (Curator's `LeaderLatch.LOCK_NAME`).
pub const LATCH_NAME: &str = "latch-";

/// A change of a latch's leadership or connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LatchEvent {
    /// This participant is the leader now.
    Elected,
    /// This participant was the leader and is not any more.
    NotLeader,
    /// The connection is lost (only with [`ConnectionPolicy::Standard`]); leadership is
    /// given up until the reconnected session confirms our node still stands. An expiry always
    /// comes after a `Suspended`, even when the client reconnected and heard of it too fast
    /// for the latch to see the disconnect.
    Suspended,
    /// The session is (or must be assumed) expired: leadership is gone. If the same session
    /// comes back, the latch carries on with its node; on the client's new session (zk-core's
    /// default after an expiry) it rejoins behind the others; if the client is dead
    /// (`OnExpiry::End`), use [`LeaderLatch::rejoin`] with a new client.
    Lost,
}

/// The stream returned by [`LeaderLatch::events`]; it ends when the latch is dropped.
#[derive(Debug)]
pub struct LatchEvents {
    rx: mpsc::UnboundedReceiver<LatchEvent>,
}

impl Stream for LatchEvents {
    type Item = LatchEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LatchEvent>> {
        self.rx.poll_recv(cx)
    }
}

/// What the task publishes: leadership, whether the session ended, and why the task cannot
/// take part right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Status {
    leader: bool,
    ended: bool,
    /// Set by [`LeaderLatch::close`].
    closed: bool,
    /// The error of the last round when it is one that waiting does not cure ([`lasting`]):
    /// `None` again once a round succeeds.
    failing: Option<zk_core::Error>,
    /// How many rounds failed so: a waiter reports a failure that comes after it started.
    failures: u64,
}

/// State shared by a latch and its task.
#[derive(Debug)]
struct Shared {
    /// The election's path.
    path: String,
    /// The client of the current session (replaced by a rejoin or a renewal).
    client: Mutex<Client>,
    status: watch::Sender<Status>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<LatchEvent>>>,
    node: Mutex<Option<String>>,
}

impl Shared {
    fn emit(&self, event: LatchEvent) {
        let change = match event {
            LatchEvent::Elected => "elected",
            LatchEvent::NotLeader => "not_leader",
            LatchEvent::Suspended => "suspended",
            LatchEvent::Lost => "lost",
        };
        crate::observe::leadership("leader_latch", &self.path, change);
        lock(&self.subscribers).retain(|tx| tx.send(event).is_ok());
    }

    fn set_leader(&self, leader: bool) {
        if self.status.send_if_modified(|s| std::mem::replace(&mut s.leader, leader) != leader) {
            self.emit(if leader { LatchEvent::Elected } else { LatchEvent::NotLeader });
        }
    }

    /// Records the outcome of a round: `Some` an error retrying alone will not cure.
    fn set_failing(&self, error: Option<zk_core::Error>, path: &str) {
        let Some(e) = error else {
            self.status.send_if_modified(|s| s.failing.take().is_some());
            return;
        };
        let mut new = false;
        self.status.send_modify(|s| {
            new = s.failing.as_ref() != Some(&e);
            s.failing = Some(e.clone());
            s.failures = s.failures.wrapping_add(1);
        });
        if new {
            tracing::warn!(error = %e, %path, "leader latch: cannot take part; retrying");
        }
    }

    fn set_node(&self, node: Option<String>) {
        *lock(&self.node) = node;
    }

    fn client(&self) -> Client {
        lock(&self.client).clone()
    }
}

use crate::lock;

/// A participant of a leader election (Curator's `LeaderLatch`).
///
/// Each participant creates an ephemeral-sequential, protected node
/// `<path>/_c_<uuid>-latch-<seq>` ([`LATCH_NAME`]) holding its id. The leader is the first node
/// in Curator's order (by sequence) when it is ours **and** owned by our current session
/// (Curator's double-leader guard). Others watch only their predecessor: a change of leader
/// fires one watch notification.
///
/// # Session events
///
/// The latch follows its client's session through [`SessionTracker`]:
///
/// - **Suspended** (disconnected): with [`ConnectionPolicy::Standard`] (the default) the
///   leader assumes it is no longer leader ([`LatchEvent::Suspended`],
///   [`LatchEvent::NotLeader`]); with [`ConnectionPolicy::SessionBased`] nothing changes yet.
/// - **Reconnected** (same session): the latch looks again with the node it has: a leader
///   whose node is still first leads again with the same node ([`LatchEvent::Elected`]), so
///   a short outage does not move leadership or its fencing token.
/// - **Lost** (no server heard for the session timeout, so the session may have expired; or
///   it did; or the client ended): [`LatchEvent::Lost`], leadership gone. If the same session
///   comes back after all (an ensemble that lost its quorum keeps its sessions), the latch
///   carries on with its node as on a reconnect. An expiry is always reported after a
///   [`LatchEvent::Suspended`] (with the standard policy), even if the disconnect before it
///   was too brief to notice.
/// - **New session** (the client renewed its session after an expiry, zk-core's default):
///   the old session's node is deleted by path (it is normally gone already) and the latch
///   joins again with a new node, behind the others.
/// - A client that ends (closed, or `OnExpiry::End`) ends the task at `Lost`;
///   [`LeaderLatch::rejoin`] takes a new client.
///
/// Dropping the latch leaves the election: its node is deleted in the background.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zk_recipes::LeaderLatch;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let a = LeaderLatch::new(server.client().await?, "/election", "a")?;
/// let b = LeaderLatch::new(server.client().await?, "/election", "b")?;
/// a.start();
/// assert!(a.await_leadership_timeout(Duration::from_secs(5)).await?);
/// b.start();
/// assert!(!b.await_leadership_timeout(Duration::from_secs(1)).await?);
/// a.close().await?;
/// assert!(b.await_leadership_timeout(Duration::from_secs(5)).await?);
/// assert_eq!(b.leader().await?.map(|p| p.id), Some(b"b".to_vec()));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LeaderLatch {
    id: Vec<u8>,
    policy: ConnectionPolicy,
    shared: Arc<Shared>,
    task: Mutex<Lifecycle<Task>>,
}

/// The running task, and the signal that makes it leave the election.
#[derive(Debug)]
struct Task {
    handle: JoinHandle<zk_core::Result<()>>,
    stop: oneshot::Sender<()>,
}

impl LeaderLatch {
    /// A participant with `id` (stored in its node) of the election at `path`; nothing is
    /// created until [`LeaderLatch::start`].
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path;
    /// [`Error::InvalidArgument`] when `id` is too large for a node (about 1 MiB, the server's
    /// default `jute.maxbuffer`), which the task would otherwise try to create for ever.
    pub fn new(client: Client, path: &str, id: impl AsRef<[u8]>) -> Result<Self> {
        validate_path(path)?;
        protected::check_node_size(path, id.as_ref().len(), "a latch id")?;
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            client: Mutex::new(client),
            status: watch::Sender::new(Status::default()),
            subscribers: Mutex::new(Vec::new()),
            node: Mutex::new(None),
        });
        Ok(LeaderLatch {
            id: id.as_ref().to_vec(),
            policy: ConnectionPolicy::default(),
            shared,
            task: Mutex::new(Lifecycle::New),
        })
    }

    /// Sets the reaction to lost connections (default [`ConnectionPolicy::Standard`]).
    pub fn with_policy(mut self, policy: ConnectionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Joins the election: a background task creates our node and follows the election. A
    /// second call does nothing.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(&self) -> Result<()> {
        lock(&self.task).start(|| {
            self.shared.status.send_replace(Status::default());
            let run = Run {
                client: self.shared.client(),
                path: self.shared.path.clone(),
                id: self.id.clone(),
                policy: self.policy,
                shared: self.shared.clone(),
            };
            let (stop, stopped) = oneshot::channel();
            Task { handle: tokio::spawn(run.run(stopped)), stop }
        })
    }

    /// Rejoins with `client` (a new session) after the old one ended (on a client built with
    /// `OnExpiry::End`): leaves the election with the old client if it still runs, then
    /// joins as [`LeaderLatch::start`] does.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Self::close); else as [`LeaderLatch::close`] (for
    /// leaving with the old client), and then the latch is left not started.
    pub async fn rejoin(&self, client: Client) -> Result<()> {
        let old = lock(&self.task).restart()?;
        self.leave(old).await?;
        *lock(&self.shared.client) = client;
        self.start()
    }

    /// Leaves the election: stops the task and deletes our node (the next participant becomes
    /// leader). Events: [`LatchEvent::NotLeader`] if we were leader. Idempotent; later
    /// [`start`](Self::start)s fail with [`Error::Closed`].
    ///
    /// # Errors
    /// [`Error::Zk`] when the delete failed with a non-retryable error; a dead session is not
    /// an error (its node is gone already).
    ///
    /// # Cancellation safety
    /// If dropped, the node is still deleted in the background.
    pub async fn close(&self) -> Result<()> {
        let task = lock(&self.task).close();
        self.shared.status.send_modify(|s| s.closed = true);
        self.leave(task).await
    }

    /// Stops `task` (if any): it deletes our node itself (once), and goes on doing so if
    /// this is dropped.
    async fn leave(&self, task: Option<Task>) -> Result<()> {
        let left = match task {
            Some(t) => {
                let _ = t.stop.send(());
                t.handle.await.unwrap_or(Ok(()))
            }
            None => Ok(()),
        };
        self.shared.set_leader(false);
        match left {
            Ok(()) => Ok(()),
            Err(e) if e.is_terminal() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A stream of this participant's events from now on (subscribe before
    /// [`LeaderLatch::start`] to see every one).
    pub fn events(&self) -> LatchEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.subscribers).push(tx);
        LatchEvents { rx }
    }

    /// True while this participant is the leader (as last confirmed by the task).
    pub fn is_leader(&self) -> bool {
        self.shared.status.borrow().leader
    }

    /// Our node's path while we take part.
    pub fn node(&self) -> Option<String> {
        lock(&self.shared.node).clone()
    }

    /// Waits until we are the leader.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the session ended (rejoin with a new client);
    /// [`Error::Closed`] once the latch is closed;
    /// [`Error::Zk`] when the latch cannot take part because of an error waiting does not
    /// cure, such as [`zk_core::Error::NoAuth`] (no permission to create our node under the
    /// path) or [`zk_core::Error::NoChildrenForEphemerals`], met by the task's next attempt
    /// (within a second). The latch keeps retrying in the background: once the cause is fixed
    /// (say, the ACL), it takes part again.
    ///
    /// # Cancellation safety
    /// Safe: it only observes.
    pub async fn await_leadership(&self) -> Result<()> {
        let mut rx = self.shared.status.subscribe();
        // A failure already reported may be cured by now (the caller fixed an ACL): only a
        // round failing after this call counts (the task retries at least every second).
        let mut before = rx.borrow().failures;
        let ended = || Error::SessionEnded(zk_core::Error::SessionExpired);
        // Each pass waits for a change of the status; a pass that does not return saw a
        // failure already cured, and there are only so many of those.
        loop {
            let Ok(s) = rx.wait_for(|s| s.leader || s.ended || s.closed || s.failures != before).await else {
                return Err(ended());
            };
            let s = s.clone();
            if s.closed {
                return Err(Error::Closed);
            }
            if s.leader {
                return Ok(());
            }
            if s.ended {
                return Err(ended());
            }
            if let Some(e) = s.failing {
                return Err(Error::Zk(e));
            }
            // It failed, and a later round succeeded already: wait on.
            before = s.failures;
        }
    }

    /// [`await_leadership`](Self::await_leadership) for at most `timeout` (the crate's one
    /// deadline convention): `false` when the time ran out first. A zero timeout says whether
    /// we lead right now.
    ///
    /// # Errors
    /// As [`await_leadership`](Self::await_leadership).
    ///
    /// # Cancellation safety
    /// Safe: it only observes.
    pub async fn await_leadership_timeout(&self, timeout: Duration) -> Result<bool> {
        within(timeout, self.await_leadership()).await.map_or(Ok(false), |r| r.map(|()| true))
    }

    /// The current leader as the server sees it: the first participant in Curator's order.
    ///
    /// # Errors
    /// [`Error::Zk`] when reading the children or the node fails.
    pub async fn leader(&self) -> Result<Option<Participant>> {
        Ok(self.participants().await?.into_iter().next())
    }

    /// Every participant in election order, with its id.
    ///
    /// # Errors
    /// [`Error::Zk`] when reading the children or a node fails.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        let client = self.shared.client();
        let children = sorted_children(&client, &self.shared.path).await?;
        lock::participants(&client, &self.shared.path, &children).await
    }
}

impl Drop for LeaderLatch {
    fn drop(&mut self) {
        // Aborting drops the task's armed Cleanup, which deletes our node in the background.
        if let Some(t) = lock(&self.task).close() {
            t.handle.abort();
        }
    }
}

/// The children of `path` (none when missing), in Curator's latch order.
async fn sorted_children(client: &Client, path: &str) -> zk_core::Result<Vec<String>> {
    lock::sorted_children(client, path, LATCH_NAME, &lock::StandardDriver { max_leases: 1 }).await
}

/// What a round found.
enum Look {
    /// We lead: wait for a session change.
    Leader,
    /// Wait for the predecessor's watch (or a session change).
    Follow(OneshotWatcher),
    /// Look again now.
    Again,
}

/// The background task of one latch with one client.
struct Run {
    client: Client,
    path: String,
    id: Vec<u8>,
    policy: ConnectionPolicy,
    shared: Arc<Shared>,
}

/// Whether a round's error lasts until someone changes something (an ACL, the tree, the
/// server's configuration), unlike a connection loss or a race with another client (the
/// election's path deleted meanwhile: the next round creates it again).
fn lasting(e: &zk_core::Error) -> bool {
    use zk_core::Error as E;
    matches!(
        e,
        E::NoAuth
            | E::InvalidAcl
            | E::NoChildrenForEphemerals
            | E::BadArguments(_)
            | E::InvalidPath { .. }
            | E::Unimplemented
            | E::EphemeralOnLocalSession
    )
}

/// Our node and the cleanup that deletes it if the task is dropped.
struct Ours {
    path: String,
    cleanup: Cleanup,
}

impl Run {
    /// Follows the election until the task ends by itself or `stop` fires (or its sender is
    /// dropped): then leaves, deleting our node, and returns how the delete went.
    async fn run(mut self, stop: oneshot::Receiver<()>) -> zk_core::Result<()> {
        let mut ours = None;
        let stopped = {
            let follow = self.follow(&mut ours);
            tokio::select! {
                () = follow => false,
                _ = stop => true,
            }
        };
        if !stopped {
            return Ok(());
        }
        self.shared.set_leader(false);
        self.shared.set_node(None);
        match ours {
            Some(o) => o.cleanup.run().await,
            None => Ok(()),
        }
    }

    /// The election loop; `ours` is our node while we take part.
    async fn follow(&mut self, ours: &mut Option<Ours>) {
        let mut session = SessionTracker::new(&self.client);
        let mut retries = Retries::new(&self.client, "leader latch");
        // No cap on rounds: each waits for a session change or a change of the election (or
        // backs off after an error), for as long as the latch runs.
        loop {
            while let Some(state) = session.poll_change() {
                self.on_session(state, ours).await;
            }
            if !session.is_connected() {
                match session.next().await {
                    Some(state) => self.on_session(state, ours).await,
                    None => {
                        self.end(ours, true, true);
                        return;
                    }
                }
                continue;
            }
            match self.round(ours).await {
                Ok(look) => {
                    retries.reset();
                    self.shared.set_failing(None, &self.path);
                    let watcher = match look {
                        Look::Again => continue,
                        Look::Leader => None,
                        Look::Follow(w) => Some(w),
                    };
                    tokio::select! {
                        state = session.next() => match state {
                            Some(state) => self.on_session(state, ours).await,
                            None => {
                                self.end(ours, true, true);
                                return;
                            }
                        },
                        _ = async { watcher.expect("present").await }, if watcher.is_some() => {}
                    }
                }
                // The session tracker reports what follows.
                Err(e) if e.is_terminal() => {}
                Err(e) => {
                    if lasting(&e) {
                        self.shared.set_failing(Some(e), &self.path);
                    } else {
                        tracing::debug!(error = %e, path = %self.path, "leader latch: retrying");
                    }
                    retries.pause().await;
                }
            }
        }
    }

    /// Acts on a change of the session (see [`LeaderLatch`]'s session events).
    async fn on_session(&self, state: ConnectionState, ours: &mut Option<Ours>) {
        let standard = self.policy == ConnectionPolicy::Standard;
        match state {
            ConnectionState::Suspended | ConnectionState::ReadOnly if standard => {
                self.shared.emit(LatchEvent::Suspended);
                self.shared.set_leader(false);
            }
            ConnectionState::Lost => {
                self.shared.set_leader(false);
                self.shared.emit(LatchEvent::Lost);
            }
            ConnectionState::NewSession => {
                // The old session's node is gone with it; delete it by path all the same (a
                // client with a local expiry deadline may open the new session before the
                // servers expire the old one), then join again at the end of the queue.
                if let Some(o) = ours.take() {
                    self.shared.set_node(None);
                    o.cleanup.disarm();
                    match self.client.delete(&o.path, None).await {
                        Ok(()) | Err(zk_core::Error::NoNode) => {}
                        Err(e) => tracing::debug!(error = %e, node = %o.path, "leader latch: old node"),
                    }
                }
            }
            // Connected, Reconnected (same session: the next round finds our node, first or
            // not), and Suspended under the session-based policy.
            _ => {}
        }
    }

    /// The session ended: leadership is lost; `for_good` when the task ends (it does not
    /// renew its session).
    fn end(&self, ours: &mut Option<Ours>, lost_already: bool, for_good: bool) {
        self.shared.set_leader(false);
        if !lost_already {
            self.shared.emit(LatchEvent::Lost);
        }
        if for_good {
            self.shared.status.send_modify(|s| s.ended = true);
        }
        // The node died with the session.
        self.forget(ours);
    }

    /// Our node is gone (or not ours to lead with): not leader, no node, nothing to delete.
    fn forget(&self, ours: &mut Option<Ours>) {
        self.shared.set_leader(false);
        self.shared.set_node(None);
        if let Some(o) = ours.take() {
            o.cleanup.disarm();
        }
    }

    /// Creates our node if needed, then looks at the children once.
    async fn round(&self, ours: &mut Option<Ours>) -> zk_core::Result<Look> {
        if ours.is_none() {
            let prefix = protected::new_prefix();
            let mut cleanup = Cleanup::for_prefix(&self.client, &self.path, &prefix);
            let mode = CreateMode::EphemeralSequential;
            let path =
                protected::create(&self.client, &self.path, &prefix, LATCH_NAME, &self.id, mode).await?;
            cleanup.created(&path);
            self.shared.set_node(Some(path.clone()));
            *ours = Some(Ours { path, cleanup });
        }
        let Some(o) = ours.as_ref() else { return Ok(Look::Again) };
        let name = o.path.rsplit('/').next().unwrap_or(&o.path).to_owned();
        let children = sorted_children(&self.client, &self.path).await?;
        match children.iter().position(|c| *c == name) {
            None => {
                // Someone deleted our node: join again with a new one (Curator's reset).
                self.forget(ours);
                Ok(Look::Again)
            }
            Some(0) => self.confirm_leader(ours).await,
            Some(i) => {
                self.shared.set_leader(false);
                match self.client.get_data_and_watch(&join(&self.path, &children[i - 1])).await {
                    Ok((_, _, w)) => Ok(Look::Follow(w)),
                    Err(zk_core::Error::NoNode) => Ok(Look::Again),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The double-leader guard: our node is first; lead only if our current session owns it.
    async fn confirm_leader(&self, ours: &mut Option<Ours>) -> zk_core::Result<Look> {
        let Some(o) = ours.as_ref() else { return Ok(Look::Again) };
        match self.client.exists(&o.path).await? {
            Some(stat) if stat.ephemeral_owner == self.client.session_id() => {
                self.shared.set_leader(true);
                Ok(Look::Leader)
            }
            _ => {
                self.forget(ours);
                Ok(Look::Again)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::layout;

    #[test]
    fn latch_nodes_sort_by_sequence_like_curator() {
        let mut names: Vec<String> = [
            "_c_b0000000-0000-4000-8000-000000000000-latch-0000000002",
            "_c_a0000000-0000-4000-8000-000000000000-latch-0000000010",
            "_c_f0000000-0000-4000-8000-000000000000-latch-0000000001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        layout::sort_nodes(&mut names, LATCH_NAME);
        let seqs: Vec<&str> = names.iter().map(|n| layout::sort_key(n, LATCH_NAME)).collect();
        assert_eq!(seqs, ["0000000001", "0000000002", "0000000010"]);
    }
}
