//! Session states and events as users see them.

use std::time::Duration;

/// Where the session stands now (a value you can read at any time with
/// [`Client::state`](crate::Client::state)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// Connecting for the first time.
    Connecting,
    /// Connected to a read-write server.
    Connected,
    /// Connected to a read-only server (only when the builder allowed it).
    ConnectedReadOnly,
    /// The connection is lost; the session may still be alive and the client is reconnecting.
    /// Locks and leadership must be treated as suspended.
    Disconnected,
    /// The session expired: its ephemerals are gone and this client is dead (terminal).
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
    /// The connection was lost; reconnecting within the session timeout.
    Disconnected,
    /// The same session was resumed on a (possibly different) server; ephemerals and watches
    /// are intact.
    Reconnected,
    /// The session expired (terminal).
    Expired,
    /// Authentication was rejected (terminal).
    AuthFailed,
    /// The client was closed (terminal).
    Closed,
}

/// What the session task publishes through its `watch` channel.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) state: SessionState,
    pub(crate) session_id: i64,
    pub(crate) password: Vec<u8>,
    pub(crate) timeout: Duration,
    pub(crate) server: Option<String>,
    /// Why the session ended, once it has.
    pub(crate) error: Option<crate::Error>,
}

impl Snapshot {
    pub(crate) fn initial(timeout: Duration) -> Self {
        Snapshot {
            state: SessionState::Connecting,
            session_id: 0,
            password: Vec::new(),
            timeout,
            server: None,
            error: None,
        }
    }
}
