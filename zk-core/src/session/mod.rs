//! The session task: the one task that owns the connection.
//!
//! `Client` handles talk to it through an unbounded channel of [`Command`]s; each request
//! carries its own oneshot reply. The task connects (and reconnects across the ensemble
//! within the session timeout), writes requests in the order they were issued, matches
//! replies by xid, dispatches watch events and publishes the session state.

mod connection;
pub(crate) use connection::encode_request;
pub(crate) mod endpoints;
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
use state::{SessionEvent, SessionState, Snapshot};
use watches::{Registry, WatchKind, WatchReg};

/// Everything the builder decided.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) hosts: Vec<String>,
    pub(crate) chroot: Chroot,
    pub(crate) session_timeout: Duration,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) read_only: bool,
    pub(crate) auths: Vec<(String, Vec<u8>)>,
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
    Auth { scheme: String, auth: Vec<u8>, reply: oneshot::Sender<Result<()>> },
    Close(oneshot::Sender<()>),
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
}

impl Terminal {
    fn state(&self) -> SessionState {
        match self {
            Terminal::Expired => SessionState::Expired,
            Terminal::AuthFailed => SessionState::AuthFailed,
            Terminal::Closed | Terminal::ConnectFailed(_) => SessionState::Closed,
        }
    }

    fn error(&self) -> Error {
        match self {
            Terminal::Expired => Error::SessionExpired,
            Terminal::AuthFailed => Error::AuthFailed,
            Terminal::Closed => Error::Closed,
            Terminal::ConnectFailed(why) => Error::ConnectFailed(why.clone()),
        }
    }

    fn event(&self) -> SessionEvent {
        match self {
            Terminal::Expired => SessionEvent::Expired,
            Terminal::AuthFailed => SessionEvent::AuthFailed,
            Terminal::Closed | Terminal::ConnectFailed(_) => SessionEvent::Closed,
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
    /// Commands received while no connection was up, replayed in order on connect.
    queued: VecDeque<Command>,
    /// Close waiters, answered when the task ends.
    closers: Vec<oneshot::Sender<()>>,
    last_heard: Instant,
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
    let (state_tx, state_rx) = watch::channel(Snapshot::initial(config.session_timeout));
    let (session_id, password) = config.resume.clone().unwrap_or((0, vec![0; 16]));
    let subscribers = Arc::new(Subscribers::default());
    let session = Session {
        hosts: HostCycle::new(config.hosts.clone()),
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
    };
    let span = tracing::debug_span!("zk_session");
    tokio::spawn(tracing::Instrument::instrument(session.run(), span));
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
    /// Adds a subscriber; after the session ended the returned stream is simply empty.
    pub(crate) fn subscribe(&self) -> mpsc::UnboundedReceiver<SessionEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut list = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
                Err(end) => break end,
            };
            match self.serve(conn).await {
                Outcome::Lost(why) => {
                    tracing::info!(%why, "connection lost; reconnecting");
                    self.publish(SessionState::Disconnected, SessionEvent::Disconnected);
                }
                Outcome::End(end) => break end,
            }
        };
        self.finish(end);
    }

    /// Publishes a state change and tells every subscriber. Both happen under the subscriber
    /// lock, so a new subscriber either receives this event or already sees the new state.
    fn publish(&mut self, state: SessionState, event: SessionEvent) {
        let (id, pw, timeout) = (self.session_id, self.password.clone(), self.negotiated);
        self.subscribers.send(event, state.is_terminal(), || {
            self.state_tx.send_modify(|s| {
                s.state = state;
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

    /// A command that arrives while disconnected: kept for the next connection, or handled now.
    fn hold(&mut self, cmd: Option<Command>) -> Result<(), Terminal> {
        match cmd {
            None => Err(Terminal::Closed),
            Some(Command::Close(tx)) => {
                self.closers.push(tx);
                Err(Terminal::Closed)
            }
            Some(cmd) => {
                self.queued.push_back(cmd);
                Ok(())
            }
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
        if let Terminal::ConnectFailed(why) = &end {
            tracing::warn!(%why, "could not establish a session");
        }
        self.registry.fail_all(&err);
        for cmd in self.queued.drain(..) {
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
    }
}
