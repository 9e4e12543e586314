//! The session task: the one task that owns the connection.
//!
//! `Client` handles talk to it through an unbounded channel of [`Command`]s; each request
//! carries its own oneshot reply. The task connects (and reconnects across the ensemble
//! within the session timeout), writes requests in the order they were issued, matches
//! replies by xid, dispatches watch events and publishes the session state.

mod connection;
pub(crate) use connection::encode_request;
pub(crate) mod endpoints;
pub(crate) mod multiplex;
mod observe;
pub(crate) mod state;
pub(crate) mod watches;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::path::Chroot;
use crate::proto::{OpCode, WatcherType};
use crate::transport::Connector;
use connection::Outcome;
use endpoints::HostCycle;
use state::{OnExpiry, SessionEvent, SessionState, Snapshot};
use watches::{Registry, WatchKind, WatchReg};

/// Everything the builder decided.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) hosts: Vec<String>,
    pub(crate) chroot: Chroot,
    pub(crate) session_timeout: Duration,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) queue_timeout: Option<Duration>,
    pub(crate) on_expiry: OnExpiry,
    pub(crate) local_expiry: bool,
    /// Seeds the host order and the reconnect jitter.
    pub(crate) seed: u64,
    pub(crate) read_only: bool,
    pub(crate) auths: Vec<(String, Vec<u8>)>,
    /// SASL DIGEST-MD5 credentials (user, password), run on every connection.
    pub(crate) sasl: Option<(String, String)>,
    pub(crate) max_frame: usize,
    pub(crate) resume: Option<(i64, Vec<u8>)>,
    pub(crate) connector: Arc<dyn Connector>,
}

/// A successful reply: the body after the reply header (errors arrive as `Err`).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) body: Bytes,
}

pub(crate) type ReplyTx = oneshot::Sender<Result<Reply>>;

/// One request, already encoded as a whole frame whose xid (bytes 4..8) is filled in by the
/// session task when it is written.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) op: OpCode,
    pub(crate) frame: Vec<u8>,
    pub(crate) reply: Option<ReplyTx>,
    pub(crate) watch: Option<WatchReg>,
    /// For removeWatches: the local watchers to drop when the server agrees.
    pub(crate) remove: Option<(String, WatcherType)>,
}

/// What a client handle can ask of the session task.
#[derive(Debug)]
pub(crate) enum Command {
    Request(Request),
    Auth {
        scheme: String,
        auth: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
    Close(oneshot::Sender<()>),
    /// What the session task holds now (see `Client::stats`).
    Stats(oneshot::Sender<crate::ClientStats>),
    /// Connect to these hosts from now on (see `Client::update_hosts`).
    SetHosts(Vec<String>),
}

/// A watcher handle was dropped before it fired.
#[derive(Debug)]
pub(crate) struct Unwatch {
    pub(crate) kind: WatchKind,
    pub(crate) path: String,
    pub(crate) id: u64,
}

/// Why the session ended.
#[derive(Debug, Clone)]
pub(crate) enum Terminal {
    Expired,
    AuthFailed,
    Closed,
    ConnectFailed(String),
    /// The first connect failed on every host over a certificate.
    Tls(crate::tls::TlsError),
}

impl Terminal {
    fn state(&self) -> SessionState {
        match self {
            Terminal::Expired => SessionState::Expired,
            Terminal::AuthFailed => SessionState::AuthFailed,
            Terminal::Closed | Terminal::ConnectFailed(_) | Terminal::Tls(_) => SessionState::Closed,
        }
    }

    fn error(&self) -> Error {
        match self {
            Terminal::Expired => Error::SessionExpired,
            Terminal::AuthFailed => Error::AuthFailed,
            Terminal::Closed => Error::Closed,
            Terminal::ConnectFailed(why) => Error::ConnectFailed(why.clone()),
            Terminal::Tls(e) => Error::Tls(e.clone()),
        }
    }

    fn event(&self) -> SessionEvent {
        match self {
            Terminal::Expired => SessionEvent::Expired,
            Terminal::AuthFailed => SessionEvent::AuthFailed,
            Terminal::Closed | Terminal::ConnectFailed(_) | Terminal::Tls(_) => SessionEvent::Closed,
        }
    }
}

/// The state the session task keeps across connections.
#[derive(Debug)]
pub(crate) struct Session {
    config: Arc<Config>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    unwatch_rx: mpsc::UnboundedReceiver<Unwatch>,
    state_tx: watch::Sender<Snapshot>,
    subscribers: Arc<Subscribers>,
    registry: Registry,
    hosts: HostCycle,
    session_id: i64,
    password: Vec<u8>,
    negotiated: Duration,
    last_zxid: i64,
    xid: i32,
    auths: Vec<(String, Vec<u8>)>,
    /// Commands received while no connection was up, replayed in order on connect, each with
    /// the moment it fails with ConnectionLoss if no connection came up by then.
    queued: VecDeque<(Instant, Command)>,
    /// Close waiters, answered when the task ends.
    closers: Vec<oneshot::Sender<()>>,
    last_heard: Instant,
    /// Whether any session was ever established (the first connect is bounded; later ones,
    /// resuming a session or opening the next one, are not).
    ever_connected: bool,
    /// Sessions that expired so far: the epoch of the current one.
    epoch: u64,
    /// While disconnected: when to announce that the session timeout passed without contact.
    timeout_elapsed_at: Option<Instant>,
}

/// The channels a `Client` keeps.
#[derive(Debug)]
pub(crate) struct Handles {
    pub(crate) cmd_tx: mpsc::UnboundedSender<Command>,
    pub(crate) unwatch_tx: mpsc::UnboundedSender<Unwatch>,
    pub(crate) state_rx: watch::Receiver<Snapshot>,
    pub(crate) subscribers: Arc<Subscribers>,
}

/// Spawns the session task and returns the handles to it.
pub(crate) fn spawn(config: Config) -> Handles {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (unwatch_tx, unwatch_rx) = mpsc::unbounded_channel();
    let (state_tx, state_rx) =
        watch::channel(Snapshot::initial(config.session_timeout, config.hosts.clone()));
    let (session_id, password) = config.resume.clone().unwrap_or((0, vec![0; 16]));
    let subscribers = Arc::new(Subscribers::default());
    let session = Session {
        hosts: HostCycle::new(config.hosts.clone(), config.seed),
        auths: config.auths.clone(),
        negotiated: config.session_timeout,
        config: Arc::new(config),
        cmd_rx,
        unwatch_rx,
        state_tx,
        subscribers: subscribers.clone(),
        registry: Registry::default(),
        session_id,
        password,
        last_zxid: 0,
        xid: 0,
        queued: VecDeque::new(),
        closers: Vec::new(),
        last_heard: Instant::now(),
        ever_connected: false,
        epoch: 0,
        timeout_elapsed_at: None,
    };
    tokio::spawn(tracing::Instrument::instrument(session.run(), observe::session_span()));
    Handles { cmd_tx, unwatch_tx, state_rx, subscribers }
}

/// The receivers of session events. Shared with the client handles so that subscribing takes
/// effect at once, not when the session task gets round to it: a change right after
/// `session_events()` is never missed.
#[derive(Debug, Default)]
pub(crate) struct Subscribers(std::sync::Mutex<SubscriberList>);

#[derive(Debug, Default)]
struct SubscriberList {
    senders: Vec<mpsc::UnboundedSender<SessionEvent>>,
    ended: bool,
}

impl Subscribers {
    /// Adds a subscriber whose stream starts with `current()`, the event that says where the
    /// session stands now (read under the lock, so no change falls between it and the next
    /// event). After the session ended the stream holds that last event only.
    pub(crate) fn subscribe(
        &self,
        current: impl FnOnce() -> Option<SessionEvent>,
    ) -> mpsc::UnboundedReceiver<SessionEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut list = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(event) = current() {
            let _ = tx.send(event);
        }
        if !list.ended {
            list.senders.push(tx);
        }
        rx
    }

    fn send(&self, event: SessionEvent, last: bool, update_state: impl FnOnce()) {
        let mut list = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        update_state();
        list.senders.retain(|tx| tx.send(event).is_ok());
        if last {
            list.ended = true;
            list.senders.clear();
        }
    }
}

impl Session {
    async fn run(mut self) {
        let end = loop {
            let conn = match self.connect().await {
                Ok(conn) => conn,
                Err(Terminal::Expired) if self.renews() => {
                    self.session_expired();
                    continue;
                }
                Err(end) => break end,
            };
            match self.serve(conn).await {
                // Disconnected is published by `serve`, before the requests in flight fail.
                Outcome::Lost(_) => {}
                Outcome::End(Terminal::Expired) if self.renews() => self.session_expired(),
                Outcome::End(end) => break end,
            }
        };
        self.finish(end);
    }

    /// Whether an expiry leads to a new session rather than the end of the client. An expiry
    /// found on the very first connect (resuming a session given to the builder) always ends
    /// it: `connect()` reports it.
    fn renews(&self) -> bool {
        self.config.on_expiry == OnExpiry::NewSession && self.ever_connected
    }

    /// The server said the session expired: everything tied to it ends with
    /// `SessionExpired`, and the next connect opens a new session (same hosts, chroot and
    /// auth). Requests issued from now on wait for that session.
    fn session_expired(&mut self) {
        tracing::info!(
            session_id = format_args!("{:#x}", self.session_id),
            "session expired; opening a new one"
        );
        let err = Error::SessionExpired;
        self.registry.fail_all(&err);
        for (_, cmd) in std::mem::take(&mut self.queued) {
            fail_command(cmd, &err, &mut self.closers);
        }
        self.session_id = 0;
        self.password = vec![0; 16];
        self.negotiated = self.config.session_timeout;
        self.timeout_elapsed_at = None;
        self.epoch += 1;
        self.state_tx.send_modify(|s| s.server = None);
        self.publish(SessionState::Connecting, SessionEvent::Expired);
    }

    /// Publishes a state change and tells every subscriber. Both happen under the subscriber
    /// lock, so a new subscriber either receives this event or already sees the new state.
    fn publish(&mut self, state: SessionState, event: SessionEvent) {
        let (id, pw, timeout, epoch) = (self.session_id, self.password.clone(), self.negotiated, self.epoch);
        observe::session_event(&event, id, epoch);
        self.subscribers.send(event, state.is_terminal(), || {
            self.state_tx.send_modify(|s| {
                s.state = state;
                s.epoch = epoch;
                s.session_id = id;
                s.password = pw;
                s.timeout = timeout;
            });
        });
    }

    fn next_xid(&mut self) -> i32 {
        self.xid = if self.xid == i32::MAX { 1 } else { self.xid + 1 };
        self.xid
    }

    /// A command that arrives while disconnected: kept for the next connection (until the
    /// queue timeout), or handled now.
    fn hold(&mut self, cmd: Option<Command>) -> Result<(), Terminal> {
        match cmd {
            None => Err(Terminal::Closed),
            Some(Command::Close(tx)) => {
                self.closers.push(tx);
                Err(Terminal::Closed)
            }
            Some(Command::Stats(tx)) => {
                let _ = tx.send(self.stats(0));
                Ok(())
            }
            Some(Command::SetHosts(hosts)) => {
                self.set_hosts(hosts);
                Ok(())
            }
            Some(cmd) => {
                self.queued.push_back((Instant::now() + self.queue_timeout(), cmd));
                Ok(())
            }
        }
    }

    /// Takes a new host list (the current connection, if any, stays until it breaks).
    fn set_hosts(&mut self, hosts: Vec<String>) {
        tracing::info!(?hosts, "new host list");
        self.hosts.replace(hosts);
        self.state_tx.send_modify(|s| s.hosts = self.hosts.hosts().to_vec());
    }

    /// What the task holds now, with `in_flight` requests written and not answered.
    fn stats(&self, in_flight: usize) -> crate::ClientStats {
        crate::ClientStats {
            watchers: self.registry.len(),
            in_flight,
            queued: self.queued.len(),
            epoch: self.epoch,
        }
    }

    /// How long one connection attempt may take: the configured connect timeout, else the
    /// session timeout shared among the hosts.
    fn attempt_timeout(&self) -> Duration {
        self.config
            .connect_timeout
            .unwrap_or(self.negotiated / self.hosts.len().max(1) as u32)
            .max(Duration::from_millis(50))
    }

    /// How long a request issued while disconnected waits for a connection.
    fn queue_timeout(&self) -> Duration {
        self.config.queue_timeout.unwrap_or_else(|| self.attempt_timeout())
    }

    /// The next moment something is due while disconnected: a queued request's deadline or
    /// the announcement that the session timeout passed.
    fn next_due(&self) -> Option<Instant> {
        let oldest = self.queued.front().map(|(at, _)| *at);
        match (oldest, self.timeout_elapsed_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Does what is due at `now`: fails the requests that waited too long, and announces
    /// that no server was heard for a whole session timeout.
    fn on_due(&mut self, now: Instant) {
        while self.queued.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, cmd)) = self.queued.pop_front() {
                fail_command(cmd, &Error::ConnectionLoss, &mut self.closers);
            }
        }
        if self.timeout_elapsed_at.is_some_and(|at| at <= now) {
            self.timeout_elapsed_at = None;
            tracing::warn!(
                session_id = format_args!("{:#x}", self.session_id),
                "no server heard for the session timeout; still trying to resume the session"
            );
            self.publish(SessionState::TimeoutElapsed, SessionEvent::TimeoutElapsed);
        }
    }

    /// Drops a watcher locally; returns the server-side removal to send, if any.
    /// `in_flight(path)` tells whether a request setting a watch on `path` awaits its reply.
    fn unwatch(&mut self, u: Unwatch, in_flight: impl FnOnce(&str) -> bool) -> Option<(String, WatcherType)> {
        self.registry.unregister(u.kind, &u.path, u.id, || in_flight(&u.path)).map(|wt| (u.path, wt))
    }

    /// Ends the session for good: every waiter learns why.
    fn finish(&mut self, end: Terminal) {
        let err = end.error();
        match &end {
            Terminal::ConnectFailed(why) => tracing::warn!(%why, "could not establish a session"),
            Terminal::Tls(e) => tracing::warn!(error = %e, "could not establish a session"),
            _ => {}
        }
        self.registry.fail_all(&err);
        for (_, cmd) in self.queued.drain(..) {
            fail_command(cmd, &err, &mut self.closers);
        }
        self.cmd_rx.close();
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            fail_command(cmd, &err, &mut self.closers);
        }
        self.state_tx.send_modify(|s| {
            s.server = None;
            s.error = Some(err);
        });
        self.publish(end.state(), end.event());
        for c in self.closers.drain(..) {
            let _ = c.send(());
        }
    }
}

fn fail_command(cmd: Command, err: &Error, closers: &mut Vec<oneshot::Sender<()>>) {
    match cmd {
        Command::Request(r) => {
            if let Some(tx) = r.reply {
                let _ = tx.send(Err(err.clone()));
            }
        }
        Command::Auth { reply, .. } => {
            let _ = reply.send(Err(err.clone()));
        }
        Command::Close(tx) => closers.push(tx),
        // Nobody is told anything: the client ended.
        Command::Stats(_) | Command::SetHosts(_) => {}
    }
}
