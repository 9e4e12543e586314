//! [`Election`]: etcd-style leader election (campaign, resign, leader, observe) over Apache
//! Curator's `LeaderSelector` layout.
//!
//! Curator's `LeaderSelector` is an `InterProcessMutex` on the election path, so an election
//! is our [`InterProcessMutex`](crate::InterProcessMutex) core: participants are
//! ephemeral-sequential protected nodes `<path>/_c_<uuid>-lock-<seq>` holding the participant
//! id, and the leader is the first in Curator's sort order. Each candidate watches only its
//! predecessor, and [`Election::observe`] watches only the leader's node (no herd effect).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{self, BoxStream};
use futures::Stream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zk_core::path::join;
use zk_core::{Client, EventType, OneshotWatcher, Op, OpResult, SessionStatus};

use super::ConnectionPolicy;
use crate::error::{Error, Result};
use crate::lock::layout::MUTEX_LOCK_NAME;
use crate::lock::{
    fenced_multi, sorted_children, InterProcessMutex, MutexGuard, Participant, StandardDriver,
};
use crate::retry::Retries;

/// Re-watches of our node (after data changes or retryable errors) before the monitor stops
/// watching it; the session monitor keeps running.
const MAX_NODE_WATCHES: u32 = 1_000_000;
/// Looks at the election (one per leader change or retryable error) an observer makes.
const MAX_OBSERVE_ROUNDS: u32 = 1_000_000;
/// Consecutive retryable errors an observer tolerates.
const MAX_LOOK_ROUNDS: u32 = 60;

/// Why a [`Leadership`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LostReason {
    /// The connection was lost ([`ConnectionPolicy::Standard`]): the session may expire unseen.
    Disconnected,
    /// The session ended (expired, the client closed, or authentication failed): the node
    /// is gone with it.
    SessionEnded,
    /// Our election node was deleted: by someone else, or by the server as the session
    /// ended when that notification arrived before the session's end was known.
    NodeDeleted,
}

/// A leader election on one path, interoperating with Curator's `LeaderSelector`.
///
/// # Session events
///
/// - **Disconnected**: a [`Leadership`] is lost at once under [`ConnectionPolicy::Standard`] (the
///   default), kept under [`ConnectionPolicy::SessionBased`]; a [`Election::campaign`] keeps waiting.
/// - **Reconnected**: the same session and node are back; under the session-based policy the
///   leadership stands (unless the node was deleted meanwhile). Under the standard policy a
///   lost leadership stays lost: resign and campaign again.
/// - **Lost** (the session timeout passed without contact) under the session-based policy,
///   and **Expired** under both: leadership is lost ([`LostReason::SessionEnded`]); a campaign fails with
///   [`Error::SessionEnded`]. A client that opens a new session by itself (the default) can
///   campaign again at once (a [`Standby`](super::Standby) does); one built with
///   `OnExpiry::End` is dead: use a new client.
///
/// Whatever the policy, a leader that has not noticed its loss yet (a partitioned one) may
/// still be running its work when a successor is elected: make the writes that must not
/// come from a deposed leader with [`Leadership::fenced`] or [`LeaderToken::fenced`].
///
/// # Examples
///
/// ```
/// use zk_recipes::Election;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let a = Election::new(server.client().await?, "/election/db", b"a")?;
/// let b = Election::new(server.client().await?, "/election/db", b"b")?;
///
/// let leadership = a.campaign().await?;
/// assert_eq!(b.leader().await?.map(|p| p.id), Some(b"a".to_vec()));
/// leadership.resign().await?;
/// let next = b.campaign().await?;
/// assert!(next.is_leader());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Election {
    mutex: InterProcessMutex,
    client: Client,
    id: Vec<u8>,
    policy: ConnectionPolicy,
}

impl Election {
    /// An election on `path` for the participant `id` (stored in its node). Nothing is
    /// created until [`Election::campaign`].
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str, id: &[u8]) -> Result<Self> {
        let mutex = InterProcessMutex::new(client.clone(), path)?.with_id(id);
        Ok(Election { mutex, client, id: id.to_vec(), policy: ConnectionPolicy::default() })
    }

    /// Sets when leadership counts as lost on connection trouble (default
    /// [`ConnectionPolicy::Standard`]).
    pub fn with_policy(mut self, policy: ConnectionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The election path.
    pub fn path(&self) -> &str {
        self.mutex.path()
    }

    /// Our participant id.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Joins the election and waits until we lead. Each campaign is a candidate of its own
    /// (its own node), as each [`InterProcessMutex::acquire`] is: campaigning again through
    /// this handle while one of its [`Leadership`]s is alive waits for that term to end.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the session ends while waiting; [`Error::NodeVanished`]
    /// when someone deletes our node while waiting; [`Error::Zk`] for other ZooKeeper errors
    /// (retryable ones are retried a bounded number of times first). No node is left behind.
    ///
    /// # Cancellation safety
    /// Safe to drop at any await: our node (created or in flight) is deleted in the
    /// background, as for [`InterProcessMutex::acquire`].
    pub async fn campaign(&self) -> Result<Leadership> {
        let guard = self.mutex.acquire().await?;
        Ok(Leadership::start(guard, self.client.clone(), self.policy))
    }

    /// [`campaign`](Self::campaign) for at most `timeout` (the crate's one deadline
    /// convention): `None` when the time ran out first (our node is then deleted). A zero
    /// timeout looks once: we lead only if nobody else does or waits before us.
    ///
    /// # Errors
    /// As [`campaign`](Self::campaign).
    ///
    /// # Cancellation safety
    /// As [`campaign`](Self::campaign).
    pub async fn campaign_timeout(&self, timeout: Duration) -> Result<Option<Leadership>> {
        let guard = self.mutex.acquire_timeout(timeout).await?;
        Ok(guard.map(|g| Leadership::start(g, self.client.clone(), self.policy)))
    }

    /// The current leader (the first participant), if any.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors.
    ///
    /// # Cancellation safety
    /// Read-only: safe to drop at any await.
    pub async fn leader(&self) -> Result<Option<Participant>> {
        Ok(self.participants().await?.into_iter().next())
    }

    /// Every participant, the leader first, then the candidates in the order they will lead.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (a missing election path is no participants).
    ///
    /// # Cancellation safety
    /// Read-only: safe to drop at any await.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        self.mutex.participants().await
    }

    /// A stream of who leads: the current leader first, then each change (`None` while
    /// nobody leads). It watches only the leader's node (the children only while there is
    /// no leader), so a change costs each observer one watch event.
    ///
    /// Across a disconnect the watch is re-registered on reconnect; changes are reported
    /// once seen. After an expiry, on a client that opens a new session (zk-core's
    /// default), it follows the leader there.
    ///
    /// # Errors
    /// Its last item is [`Error::SessionEnded`] when the client ended (closed, or expired
    /// when built with `OnExpiry::End`), or the error that ended a retry (see the client's
    /// retry policy).
    pub fn observe(&self) -> LeaderStream {
        let state = Observer {
            client: self.client.clone(),
            path: self.path().to_owned(),
            last: None,
            watch: None,
            done: false,
        };
        let inner = stream::unfold(state, |mut st| async move {
            let item = st.next_leader().await?;
            Some((item, st))
        });
        LeaderStream { inner: Box::pin(inner) }
    }
}

/// Leadership of an [`Election`], held until resigned, dropped or lost.
///
/// Dropping it resigns in the background (the node is deleted once the server is
/// reachable); [`Leadership::resign`] does it now and reports errors.
#[derive(Debug)]
#[must_use = "leadership is resigned when the guard is dropped"]
pub struct Leadership {
    guard: Option<MutexGuard>,
    client: Client,
    lost: watch::Receiver<Option<LostReason>>,
    monitor: JoinHandle<()>,
}

impl Leadership {
    fn start(guard: MutexGuard, client: Client, policy: ConnectionPolicy) -> Leadership {
        let (tx, lost) = watch::channel(None);
        let node = guard.path().to_owned();
        crate::observe::leadership("election", &node, "elected");
        let monitor = tokio::spawn(monitor(client.clone(), node, guard.epoch(), policy, tx));
        Leadership { guard: Some(guard), client, lost, monitor }
    }

    /// Our election node's path (its sequence grows with each term: a fencing token).
    pub fn path(&self) -> &str {
        self.guard.as_ref().map_or("", |g| g.path())
    }

    /// True until leadership is lost.
    pub fn is_leader(&self) -> bool {
        self.lost.borrow().is_none()
    }

    /// Why leadership was lost, `None` while we lead.
    pub fn lost_reason(&self) -> Option<LostReason> {
        *self.lost.borrow()
    }

    /// Resolves the moment leadership is lost, with the reason (see [`ConnectionPolicy`]).
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn lost(&self) -> LostReason {
        lost_signal(self.lost.clone()).await
    }

    /// A cheap, owned handle that tells whether this term still stands and makes fenced
    /// writes in it, for work that runs in other tasks.
    pub fn token(&self) -> LeaderToken {
        LeaderToken { client: self.client.clone(), node: self.path().to_owned(), lost: self.lost.clone() }
    }

    /// Runs `ops` in one multi whose first op checks that our election node still exists, so
    /// they apply only while we lead (a fenced write, as [`MutexGuard::fenced`]). Returns the
    /// results of `ops`.
    ///
    /// Two checks, so that no write lands once a successor may lead:
    /// - here, before sending: once leadership is lost ([`Leadership::is_leader`] is false)
    ///   nothing is sent. Under [`ConnectionPolicy::Standard`] a leader deposed by a
    ///   disconnect stays deposed even when its session (and node) come back.
    /// - on the server, atomically with `ops`: our node exists. This covers what this
    ///   process has not seen yet, such as a partitioned leader whose session the server
    ///   expired (its node went with it, and a successor may lead) before the loss was
    ///   noticed here. Node names are unique (a sequence and a UUID), so the check never
    ///   passes on a successor's node, nor on a node of this client's next session.
    ///
    /// # Errors
    /// [`Error::LockLost`] when leadership was lost (nothing sent), or when the server found
    /// our node gone (the session ended or someone deleted it; nothing applied);
    /// [`Error::Zk`] with [`zk_core::Error::MultiFailed`] (index into `ops`) when one of `ops`
    /// failed (nothing applied); other [`Error::Zk`] errors (on `ConnectionLoss` the ops may
    /// or may not have been applied, and if they were, our node stood at that moment).
    ///
    /// A write sent before leadership was lost can still be applied after the loss was seen
    /// here: under the standard policy a leader deposed by a partition gives up its term
    /// before the server can tell, and a request it had in flight reaches the server when
    /// the partition heals. The check makes that safe: such a write applies only if our node
    /// still stands then, so before any successor leads (a successor leads only once our
    /// node is deleted, and from then on the check fails).
    ///
    /// # Cancellation safety
    /// The multi is sent when the future is first polled; dropping the future afterwards does
    /// not stop it from being applied (still only if our node stands), it only discards the
    /// result.
    pub async fn fenced(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        match &self.guard {
            Some(guard) if self.is_leader() => guard.fenced(ops).await,
            _ => Err(Error::LockLost),
        }
    }

    /// Gives up leadership now: deletes our node, so the next candidate leads.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the session had ended (the node is gone already);
    /// [`Error::Zk`] when the delete failed with a non-retryable error.
    ///
    /// # Cancellation safety
    /// Dropped before it completes, the delete continues in the background.
    pub async fn resign(mut self) -> Result<()> {
        crate::observe::leadership("election", self.path(), "resigned");
        // Stop the monitor and wait until it is gone: its watch on our node is dropped (and
        // removed on the server) before the delete, so resigning notifies only the successor.
        self.monitor.abort();
        let _ = (&mut self.monitor).await;
        match self.guard.take() {
            Some(g) => g.release().await,
            None => Ok(()),
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if self.guard.is_some() {
            crate::observe::leadership("election", self.path(), "term_ended");
        }
        self.monitor.abort();
        // Dropping the mutex guard deletes the node in the background.
    }
}

/// An owned view of one term of leadership (see [`Leadership::token`]): whether it still
/// stands, and fenced writes in it ([`LeaderToken::fenced`]).
#[derive(Debug, Clone)]
pub struct LeaderToken {
    client: Client,
    node: String,
    lost: watch::Receiver<Option<LostReason>>,
}

impl LeaderToken {
    /// The term's election node (a fencing token).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// True until the term's leadership is lost or resigned.
    pub fn is_leader(&self) -> bool {
        self.lost.has_changed().is_ok() && self.lost.borrow().is_none()
    }

    /// Resolves when the term ends: lost (with the reason), or resigned/dropped (reported
    /// as [`LostReason::NodeDeleted`], our node being deleted).
    ///
    /// # Cancellation safety
    /// Safe to drop.
    pub async fn lost(&self) -> LostReason {
        lost_signal(self.lost.clone()).await
    }

    /// A fenced write in this term, as [`Leadership::fenced`]: `ops` in one multi whose first
    /// op checks that the term's node still exists, sent only while
    /// [`LeaderToken::is_leader`]. A token kept past its term (lost, resigned or dropped)
    /// fails without sending anything.
    ///
    /// # Errors
    /// As [`Leadership::fenced`]: [`Error::LockLost`] when the term is over (nothing sent)
    /// or the server found its node gone (nothing applied); [`Error::Zk`] otherwise.
    ///
    /// # Cancellation safety
    /// As [`Leadership::fenced`]: once polled, the multi may be applied (only if the node
    /// stands) even if the future is dropped.
    pub async fn fenced(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        if !self.is_leader() {
            return Err(Error::LockLost);
        }
        fenced_multi(&self.client, &self.node, ops).await
    }
}

async fn lost_signal(mut rx: watch::Receiver<Option<LostReason>>) -> LostReason {
    match rx.wait_for(Option::is_some).await {
        Ok(r) => r.unwrap_or(LostReason::NodeDeleted),
        // The monitor is gone: the guard was resigned or dropped.
        Err(_) => LostReason::NodeDeleted,
    }
}

/// Watches the session and our node; publishes the first reason leadership is lost.
async fn monitor(
    client: Client,
    node: String,
    epoch: u64,
    policy: ConnectionPolicy,
    tx: watch::Sender<Option<LostReason>>,
) {
    let reason = match tokio::select! {
        r = session_loss(&client, epoch, policy) => r,
        r = node_loss(&client, &node) => r,
    } {
        // The deletion of an expired or closed session's node may be reported first.
        LostReason::NodeDeleted if client.status().has_ended(epoch) => LostReason::SessionEnded,
        r => r,
    };
    tracing::debug!(%node, ?reason, "leadership lost");
    let _ = tx.send(Some(reason));
}

async fn session_loss(client: &Client, epoch: u64, policy: ConnectionPolicy) -> LostReason {
    // The session-based policy gives up when the session may have expired: the session
    // timeout passed without contact (Curator's LOST), or the server said it expired.
    let timed_out = |s: &SessionStatus| s.state == zk_core::SessionState::TimeoutElapsed;
    let lost = |s: &SessionStatus| match policy {
        ConnectionPolicy::Standard => s.has_ended(epoch) || !s.state.is_connected(),
        ConnectionPolicy::SessionBased => s.has_ended(epoch) || timed_out(s),
    };
    let mut rx = client.state_watch();
    // Bound first: as a tail expression, the wait's temporaries (borrowing `rx`) would
    // outlive `rx` itself (edition 2021).
    let reason = match rx.wait_for(lost).await {
        Some(s) if !s.has_ended(epoch) && !timed_out(&s) => LostReason::Disconnected,
        _ => LostReason::SessionEnded,
    };
    reason
}

async fn node_loss(client: &Client, node: &str) -> LostReason {
    let mut retries = Retries::new(client, "watching the leader's node");
    for _ in 0..MAX_NODE_WATCHES {
        let error = match client.exists_and_watch(node).await {
            Ok((None, _)) => return LostReason::NodeDeleted,
            Ok((Some(_), watcher)) => match watcher.await {
                Ok(ev) if ev.event_type == EventType::NodeDeleted => return LostReason::NodeDeleted,
                Ok(_) => continue,
                Err(e) => e,
            },
            Err(e) => e,
        };
        if error.is_terminal() {
            return LostReason::SessionEnded;
        }
        retries.pause().await;
    }
    // Give up on the node; the session monitor still reports the session's end.
    std::future::pending().await
}

/// A stream of the election's leader; see [`Election::observe`].
pub struct LeaderStream {
    inner: BoxStream<'static, Result<Option<Participant>>>,
}

impl std::fmt::Debug for LeaderStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderStream").finish_non_exhaustive()
    }
}

impl Stream for LeaderStream {
    type Item = Result<Option<Participant>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct Observer {
    client: Client,
    path: String,
    /// The last leader yielded (`None` before the first item).
    last: Option<Option<Participant>>,
    watch: Option<OneshotWatcher>,
    done: bool,
}

impl Observer {
    async fn next_leader(&mut self) -> Option<Result<Option<Participant>>> {
        if self.done {
            return None;
        }
        let mut retries = Retries::new(&self.client, "observing the leader");
        for _ in 0..MAX_OBSERVE_ROUNDS {
            let r = match self.watch.take() {
                Some(w) => w.await.map(|_| ()),
                None => Ok(()),
            };
            let r = match r {
                Ok(()) => look(&self.client, &self.path).await,
                Err(e) => Err(e),
            };
            match r {
                Ok((leader, watch)) => {
                    retries.reset();
                    self.watch = Some(watch);
                    if self.last.as_ref() != Some(&leader) {
                        self.last = Some(leader.clone());
                        return Some(Ok(leader));
                    }
                }
                Err(e) if crate::session::renews_after(&self.client, &e) => {
                    // The client opens a new session: look again there (requests wait for
                    // it, bounded by the client's queue timeout and the retry policy).
                    retries.pause().await;
                }
                Err(e) => {
                    if let Err(e) = retries.absorb(e.into()).await {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
        }
        self.done = true;
        Some(Err(Error::RetriesExhausted("observing the leader")))
    }
}

/// The leader now, and a watch that fires when it may have changed: on the leader's node, or
/// on the children (or the path's existence) while there is no leader.
async fn look(client: &Client, path: &str) -> zk_core::Result<(Option<Participant>, OneshotWatcher)> {
    // Each pass ends unless the election changed between our reads.
    for _ in 0..MAX_LOOK_ROUNDS {
        let children =
            sorted_children(client, path, MUTEX_LOCK_NAME, &StandardDriver { max_leases: 1 }).await?;
        if let Some(first) = children.first() {
            let node = join(path, first);
            match client.get_data_and_watch(&node).await {
                Ok((id, _, w)) => return Ok((Some(Participant { node, id }), w)),
                Err(zk_core::Error::NoNode) => continue,
                Err(e) => return Err(e),
            }
        }
        match client.get_children_and_watch(path).await {
            Ok((c, _, w)) if c.is_empty() => return Ok((None, w)),
            Ok(_) => continue,
            Err(zk_core::Error::NoNode) => {}
            Err(e) => return Err(e),
        }
        match client.exists_and_watch(path).await {
            Ok((None, w)) => return Ok((None, w)),
            Ok(_) => continue,
            Err(e) => return Err(e),
        }
    }
    // The election changed between our reads every time: retryable, the observer looks again.
    Err(zk_core::Error::ConnectionLoss)
}
