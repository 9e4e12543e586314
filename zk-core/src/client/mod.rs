//! The [`Client`] handle.

mod builder;
mod config;
mod multi;
mod ops;
mod retrying;
mod tree;
mod watcher;

pub use builder::ClientBuilder;
pub use config::{EnsembleConfig, Reconfig, ServerSpec, CONFIG_NODE};
pub use multi::{CreateMode, CreateOptions, Op, OpResult, ReadOp, ReadResult};
pub use retrying::Retrying;
pub use watcher::{OneshotWatcher, PersistentWatcher, SessionEvents, StateWatcher};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Error, Result};
use crate::path::Chroot;
use crate::proto::{Acl, OpCode, Record, WatcherType};
use crate::retry::RetryPolicy;
use crate::session::state::{SessionState, SessionStatus, Snapshot};
use crate::session::watches::WatchReg;
use crate::session::{Command, Handles, Reply, Request, Unwatch};

/// A ZooKeeper client: a cheap, cloneable handle to a session task.
///
/// Every clone talks to the same session task, which owns the connection. Operations are
/// ordered by call, not by await: each method enqueues its request before returning the
/// future, so `let a = c.create(..); let b = c.set_data(..);` sends `a` first, and many
/// requests are in flight at once on one connection.
///
/// The client outlives its sessions: when the server says the session expired, the requests
/// and watchers of that session end with [`Error::SessionExpired`], and the client opens a
/// new session and carries on ([`SessionEvent::NewSession`](crate::SessionEvent::NewSession));
/// [`ClientBuilder::on_expiry`] can make the expiry final instead. While no server answers,
/// the client keeps trying to resume its session, since only the ensemble decides that it
/// expired; it announces when the session timeout has passed without contact
/// ([`SessionState::TimeoutElapsed`]). Requests issued while disconnected fail with
/// [`Error::ConnectionLoss`] after [`ClientBuilder::queue_timeout`].
///
/// When the last handle is dropped the session is closed (CloseSession is sent), like
/// [`Client::close`] without waiting.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    /// The ACL of creates that name none: the builder's ([`ClientBuilder::default_acl`]),
    /// or this handle's own ([`Client::with_default_acl`]).
    pub(crate) default_acl: Arc<[Acl]>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    cmd_tx: mpsc::UnboundedSender<Command>,
    unwatch_tx: mpsc::UnboundedSender<Unwatch>,
    state_rx: watch::Receiver<Snapshot>,
    subscribers: Arc<crate::session::Subscribers>,
    pub(crate) chroot: Chroot,
    max_frame: usize,
    next_watch_id: AtomicU64,
    pub(crate) auth_configured: bool,
    retry_policy: RetryPolicy,
    /// Seeds the jitter of each retry schedule handed out (SplitMix64 steps).
    retry_seed: AtomicU64,
}

/// A request that has been handed to the session task.
pub(crate) struct Sent {
    rx: oneshot::Receiver<Result<Reply>>,
    inner: Arc<Inner>,
}

impl Sent {
    pub(crate) async fn reply(self) -> Result<Reply> {
        match self.rx.await {
            Ok(r) => r,
            Err(_) => Err(terminal_error(&self.inner)),
        }
    }
}

fn terminal_error(inner: &Inner) -> Error {
    let s = inner.state_rx.borrow();
    s.error.clone().unwrap_or_else(|| s.state.terminal_error())
}

impl Client {
    /// Connects to `connect_string` (`"host1:2181,host2:2181/optional/chroot"`) with the
    /// default options and waits until the session is established.
    ///
    /// # Errors
    /// As [`ClientBuilder::connect`].
    pub async fn connect(connect_string: &str) -> Result<Client> {
        ClientBuilder::new(connect_string).connect().await
    }

    /// A builder for the options [`Client::connect`] leaves at their defaults.
    pub fn builder(connect_string: &str) -> ClientBuilder {
        ClientBuilder::new(connect_string)
    }

    pub(crate) fn from_handles(
        h: Handles,
        (chroot, default_acl): (Chroot, Vec<Acl>),
        max_frame: usize,
        auth_configured: bool,
        (retry_policy, retry_seed): (RetryPolicy, u64),
    ) -> Client {
        Client {
            default_acl: default_acl.into(),
            inner: Arc::new(Inner {
                cmd_tx: h.cmd_tx,
                unwatch_tx: h.unwatch_tx,
                state_rx: h.state_rx,
                subscribers: h.subscribers,
                chroot,
                max_frame,
                next_watch_id: AtomicU64::new(1),
                auth_configured,
                retry_policy,
                retry_seed: AtomicU64::new(retry_seed),
            }),
        }
    }

    /// The ACL of every create that names none, this handle's and its recipes'
    /// ([`ClientBuilder::default_acl`], or [`with_default_acl`](Self::with_default_acl)).
    pub fn default_acl(&self) -> &[Acl] {
        &self.default_acl
    }

    /// A handle on the same session whose creates that name no ACL use `acl`: hand it to a
    /// recipe, and every node the recipe creates (lock and latch nodes, queue items,
    /// counters, parents) carries `acl`, as Curator's `ACLProvider` does for a whole client.
    /// Pair an ACL for an identity with the authentication of that identity
    /// ([`ClientBuilder::auth`], [`ClientBuilder::sasl_digest_md5`]) or use
    /// [`Acl::creator_all`]. The session, its watches and its state are shared with `self`.
    ///
    /// # Errors
    /// [`Error::BadArguments`] for an empty ACL.
    pub fn with_default_acl(&self, acl: Vec<Acl>) -> Result<Client> {
        if acl.is_empty() {
            return Err(Error::BadArguments("the default ACL must not be empty".into()));
        }
        Ok(Client { inner: self.inner.clone(), default_acl: acl.into() })
    }

    /// The retry policy given to the builder ([`ClientBuilder::retry_policy`]).
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry_policy
    }

    /// A retry schedule of the client's policy for one operation that starts now (see
    /// [`RetryPolicy::schedule`]), jittered from the client's seed: the recipes retry their
    /// steps on it.
    pub fn retry_schedule(&self) -> impl Iterator<Item = Duration> + Send + Sync {
        let seed = self.inner.retry_seed.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        self.inner.retry_policy.schedule_seeded(splitmix(seed))
    }

    /// What the client holds right now: local watchers, requests in flight and requests
    /// waiting for a connection (for monitoring, and for tests that nothing leaks).
    ///
    /// # Errors
    /// [`Error::Closed`] (or the session's end) when the client has ended.
    pub async fn stats(&self) -> Result<ClientStats> {
        let (tx, rx) = oneshot::channel();
        self.inner.cmd_tx.send(Command::Stats(tx)).map_err(|_| self.terminal_error())?;
        rx.await.map_err(|_| self.terminal_error())
    }

    /// The session's state right now.
    pub fn state(&self) -> SessionState {
        self.inner.state_rx.borrow().state
    }

    /// The session's state, id and epoch right now.
    pub fn status(&self) -> SessionStatus {
        self.inner.state_rx.borrow().status()
    }

    /// A watcher of the session's [`SessionStatus`], for code that wants the latest value
    /// rather than every change (see [`Client::session_events`] for every change). Cheap: it
    /// shares the client's own state channel, no task is spawned.
    pub fn state_watch(&self) -> StateWatcher {
        StateWatcher::new(self.inner.state_rx.clone())
    }

    /// The session's events as a stream, starting with one that says where the session stands
    /// now (`Connected` for a connected client, so the first connection is seen too), then
    /// every change.
    pub fn session_events(&self) -> SessionEvents {
        let state = &self.inner.state_rx;
        SessionEvents { rx: self.inner.subscribers.subscribe(|| state.borrow().as_event()) }
    }

    /// The current session's id (0 before the first connection, and between an expiry and
    /// the next session).
    pub fn session_id(&self) -> i64 {
        self.inner.state_rx.borrow().session_id
    }

    /// The session password, for resuming the session from another client
    /// ([`ClientBuilder::session`]).
    pub fn session_password(&self) -> Vec<u8> {
        self.inner.state_rx.borrow().password.clone()
    }

    /// The session timeout the server granted.
    pub fn session_timeout(&self) -> Duration {
        self.inner.state_rx.borrow().timeout
    }

    /// The `host:port` of the server currently connected to, if any.
    pub fn connected_server(&self) -> Option<String> {
        let s = self.inner.state_rx.borrow();
        s.state.is_connected().then(|| s.server.clone()).flatten()
    }

    /// Closes the session: ephemerals are deleted and watches dropped. Waits for the server to
    /// confirm (bounded by the read timeout). Requests issued before `close` complete first;
    /// later ones fail with [`Error::Closed`]. Idempotent.
    ///
    /// If the client is disconnected at that moment, the session is only closed locally and
    /// the server expires it after the session timeout.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.cmd_tx.send(Command::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    pub(crate) fn terminal_error(&self) -> Error {
        terminal_error(&self.inner)
    }

    pub(crate) fn next_watch_id(&self) -> u64 {
        self.inner.next_watch_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn unwatch_tx(&self) -> mpsc::UnboundedSender<Unwatch> {
        self.inner.unwatch_tx.clone()
    }

    /// Encodes and enqueues one request.
    pub(crate) fn send<R: Record>(
        &self,
        op: OpCode,
        body: &R,
        watch: Option<WatchReg>,
        remove: Option<(String, WatcherType)>,
    ) -> Result<Sent> {
        let frame = crate::session::encode_request(op, body);
        let size = frame.len() - 4;
        if size > self.inner.max_frame {
            return Err(Error::BadArguments(format!(
                "request of {size} bytes exceeds the maximum frame size of {} bytes",
                self.inner.max_frame
            )));
        }
        let (tx, rx) = oneshot::channel();
        let req = Request { op, frame, reply: Some(tx), watch, remove };
        self.inner.cmd_tx.send(Command::Request(req)).map_err(|_| self.terminal_error())?;
        Ok(Sent { rx, inner: self.inner.clone() })
    }
}

/// One SplitMix64 output for `x`: spreads consecutive seeds apart.
pub(crate) fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a client holds at one moment, from [`Client::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ClientStats {
    /// Local watchers registered (one-shot and persistent, every path).
    pub watchers: usize,
    /// Requests written to the connection and not answered yet.
    pub in_flight: usize,
    /// Requests waiting for a connection.
    pub queued: usize,
    /// The session's epoch (see [`SessionStatus::epoch`](crate::SessionStatus::epoch)).
    pub epoch: u64,
}
