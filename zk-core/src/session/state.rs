//! Session states and events as users see them.

use std::time::Duration;

/// Where the session stands now (a value you can read at any time with
/// [`Client::state`](crate::Client::state)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// Establishing a session: for the first time, or a new one after the last one expired.
    Connecting,
    /// Connected to a read-write server.
    Connected,
    /// Connected to a read-only server (only when the builder allowed it).
    ConnectedReadOnly,
    /// The connection is lost; the session may still be alive and the client is reconnecting.
    /// Locks and leadership must be treated as suspended.
    Disconnected,
    /// Disconnected for longer than the session timeout: the session has probably expired on
    /// the servers (Curator's LOST moment), but only a server can say so, and the client keeps
    /// trying to resume it. Treat locks and leadership as lost; the same session may still
    /// come back (`Reconnected`) if the ensemble kept it, say after a quorum loss.
    TimeoutElapsed,
    /// The session expired and the client was built to end with it
    /// ([`OnExpiry::End`](crate::OnExpiry::End)): its ephemerals are gone and this client is
    /// dead (terminal). A client that renews sessions (the default) goes from the expiry to
    /// `Connecting` for its next session instead.
    Expired,
    /// The server rejected our authentication; this client is dead (terminal).
    AuthFailed,
    /// The client was closed (terminal).
    Closed,
}

impl SessionState {
    /// True for states a client never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(self, SessionState::Expired | SessionState::AuthFailed | SessionState::Closed)
    }

    /// True when requests can be served right now.
    pub fn is_connected(self) -> bool {
        matches!(self, SessionState::Connected | SessionState::ConnectedReadOnly)
    }

    /// The error a request gets when the client is in this terminal state:
    /// [`Error::SessionExpired`](crate::Error::SessionExpired) for `Expired`,
    /// [`Error::AuthFailed`](crate::Error::AuthFailed) for `AuthFailed`, and
    /// [`Error::Closed`](crate::Error::Closed) for `Closed` (and for any state that is not
    /// terminal, which has no such error).
    pub fn terminal_error(self) -> crate::Error {
        match self {
            SessionState::Expired => crate::Error::SessionExpired,
            SessionState::AuthFailed => crate::Error::AuthFailed,
            _ => crate::Error::Closed,
        }
    }
}

/// A change of session state, as delivered by [`SessionEvents`](crate::SessionEvents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The first connection of this session was established.
    Connected,
    /// Connected to a read-only server.
    ConnectedReadOnly,
    /// The connection was lost; reconnecting (the session may still be alive).
    Disconnected,
    /// No server was heard for a whole session timeout: the session has probably expired
    /// (Curator's LOST moment). The client keeps trying to resume it; `Reconnected` or
    /// `Expired` follows, as the server decides.
    TimeoutElapsed,
    /// The same session was resumed on a (possibly different) server; ephemerals and watches
    /// are intact.
    Reconnected,
    /// The session expired: its ephemerals are gone; its in-flight requests failed with
    /// [`Error::SessionExpired`](crate::Error::SessionExpired) and its watchers ended with it.
    /// A renewing client (the default) then establishes a new session
    /// ([`SessionEvent::NewSession`]); with [`OnExpiry::End`](crate::OnExpiry::End) this is
    /// the last event.
    Expired,
    /// A new session replaced the expired one: the client serves requests again, on a new
    /// session id, with none of the old session's ephemerals or watches.
    NewSession {
        /// The new session's id.
        session_id: i64,
    },
    /// Authentication was rejected (terminal).
    AuthFailed,
    /// The client was closed (terminal).
    Closed,
}

/// The session as a [`StateWatcher`](crate::StateWatcher) sees it: the state, the session id
/// and the session's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionStatus {
    /// The client's state.
    pub state: SessionState,
    /// The current session's id (0 while none is established).
    pub session_id: i64,
    /// Which session of this client the state is about: 0 for the first one, one more each
    /// time a session expires. It changes the moment an expiry is known, before the next
    /// session is established, so code that started under epoch `e` knows its session (and
    /// its ephemerals and watches) is gone once the epoch differs, even if it never saw the
    /// `Expired` state in between (a watcher sees the latest value only).
    pub epoch: u64,
}

impl SessionStatus {
    /// True when the session of epoch `epoch` is over: a later epoch, or a terminal state.
    pub fn has_ended(&self, epoch: u64) -> bool {
        self.epoch != epoch || self.state.is_terminal()
    }
}

/// What a client does when the server says its session expired; see
/// [`ClientBuilder::on_expiry`](crate::ClientBuilder::on_expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OnExpiry {
    /// Open a new session on the same connect string, chroot and authentication, and carry on
    /// (as kazoo's client and Curator's framework do). The default.
    #[default]
    NewSession,
    /// End the client: every later call fails with
    /// [`Error::SessionExpired`](crate::Error::SessionExpired).
    End,
}

/// What the session task publishes through its `watch` channel.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) state: SessionState,
    pub(crate) epoch: u64,
    pub(crate) session_id: i64,
    pub(crate) password: Vec<u8>,
    pub(crate) timeout: Duration,
    pub(crate) server: Option<String>,
    /// The hosts the client connects to (`Client::update_hosts` changes them).
    pub(crate) hosts: Vec<String>,
    /// Why the session ended, once it has.
    pub(crate) error: Option<crate::Error>,
}

impl Snapshot {
    pub(crate) fn initial(timeout: Duration, hosts: Vec<String>) -> Self {
        Snapshot {
            hosts,
            state: SessionState::Connecting,
            epoch: 0,
            session_id: 0,
            password: Vec::new(),
            timeout,
            server: None,
            error: None,
        }
    }
}

impl Snapshot {
    pub(crate) fn status(&self) -> SessionStatus {
        SessionStatus { state: self.state, session_id: self.session_id, epoch: self.epoch }
    }

    /// The event that tells a new subscriber where the session stands now, if any.
    pub(crate) fn as_event(&self) -> Option<SessionEvent> {
        Some(match self.state {
            SessionState::Connecting => return None,
            SessionState::Connected => SessionEvent::Connected,
            SessionState::ConnectedReadOnly => SessionEvent::ConnectedReadOnly,
            SessionState::Disconnected => SessionEvent::Disconnected,
            SessionState::TimeoutElapsed => SessionEvent::TimeoutElapsed,
            SessionState::Expired => SessionEvent::Expired,
            SessionState::AuthFailed => SessionEvent::AuthFailed,
            SessionState::Closed => SessionEvent::Closed,
        })
    }
}
