//! The one session layer under every recipe: the client's session status turned into the
//! states a recipe acts on, Curator's `ConnectionState`.
//!
//! zk-core reports what happened to the connection and the session (`Disconnected`,
//! `TimeoutElapsed`, `Expired` with a new epoch, ...) and only the latest value of it to a
//! watcher. A recipe needs something simpler and stricter: one of five states, every change
//! reported once, in an order it can rely on:
//!
//! - [`ConnectionState::Suspended`] before [`ConnectionState::Lost`]: a client hears of an
//!   expiry only after it was disconnected, however briefly;
//! - [`ConnectionState::Lost`] before [`ConnectionState::NewSession`]: whatever the recipe
//!   held in the old session (ephemeral nodes, watches) is gone;
//! - `Lost` as soon as the session may have expired: when the session timeout passed without
//!   contact (the server may have expired it; the client keeps trying to resume it), or when
//!   the server said it expired, or when the client ended.
//!
//! [`SessionTracker`] does this for one recipe task; [`ConnectionPolicy`](crate::ConnectionPolicy)
//! decides whether a leader gives its leadership up on `Suspended` or only on `Lost`.

use std::collections::VecDeque;

use futures::FutureExt;
use zk_core::{Client, SessionEvent, SessionEvents};

/// A session state as a recipe acts on it (Curator's `ConnectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connected (in the session the recipe started in).
    Connected,
    /// The connection is lost; the session may be expiring unseen. What the recipe holds
    /// may still be there, or may not: do not act on it.
    Suspended,
    /// The same session is back after `Suspended` (or after `Lost`, when the ensemble kept
    /// the session through a longer outage): ephemeral nodes and watches are as they were,
    /// but persistent watches missed what changed meanwhile.
    Reconnected,
    /// The session is, or must be taken as, gone: the session timeout passed without
    /// contact, the server said it expired, or the client ended. What the recipe held in it
    /// is lost.
    Lost,
    /// The client opened a new session after the old one expired: nothing of the old
    /// session is left; a recipe starts afresh.
    NewSession,
    /// Connected to a read-only server: reads work, writes do not.
    ReadOnly,
}

/// Follows one client's session for a recipe, turning its events into [`ConnectionState`]s:
/// every change once, in order (it reads the client's lossless event stream; no task).
#[derive(Debug)]
pub struct SessionTracker {
    events: SessionEvents,
    /// The epoch of the session the recipe is in (one more with each expiry).
    epoch: u64,
    /// The last state reported.
    last: ConnectionState,
    /// States derived from one event and not reported yet.
    pending: VecDeque<ConnectionState>,
    /// The client ended: nothing follows what is pending.
    done: bool,
}

impl SessionTracker {
    /// A tracker of `client`'s session from now on. It starts at where the session stands:
    /// `Connected` for a connected client.
    pub fn new(client: &Client) -> Self {
        let epoch = client.status().epoch;
        let mut events = client.session_events();
        // The stream starts with the current state.
        let last = match events.next_event().now_or_never().flatten() {
            Some(SessionEvent::Disconnected) => ConnectionState::Suspended,
            Some(SessionEvent::TimeoutElapsed | SessionEvent::Expired) => ConnectionState::Lost,
            Some(SessionEvent::ConnectedReadOnly) => ConnectionState::ReadOnly,
            Some(SessionEvent::Closed | SessionEvent::AuthFailed) => ConnectionState::Lost,
            _ => ConnectionState::Connected,
        };
        SessionTracker { events, epoch, last, pending: VecDeque::new(), done: false }
    }

    /// The epoch of the session the recipe is in: that of the client's session when the
    /// tracker was made, one more with each expiry reported.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The last state reported (or the initial one).
    pub fn state(&self) -> ConnectionState {
        self.last
    }

    /// True when the last state reported says requests can be served.
    pub fn is_connected(&self) -> bool {
        matches!(
            self.last,
            ConnectionState::Connected | ConnectionState::Reconnected | ConnectionState::NewSession
        )
    }

    /// The next change of state, without waiting: `None` when there is none right now.
    pub fn poll_change(&mut self) -> Option<ConnectionState> {
        // Bounded: each pass takes one event off the stream.
        loop {
            if let Some(state) = self.pending.pop_front() {
                self.last = state;
                return Some(state);
            }
            if self.done {
                return None;
            }
            match self.events.next_event().now_or_never() {
                None => return None,
                Some(event) => self.on_event(event),
            }
        }
    }

    /// Waits for the next change of state; `None` once the client has ended (after `Lost`).
    ///
    /// # Cancellation safety
    /// Cancel-safe: a change that arrives meanwhile is returned by the next call.
    pub async fn next(&mut self) -> Option<ConnectionState> {
        // Each pass takes one event off the stream, or returns.
        loop {
            if let Some(change) = self.poll_change() {
                return Some(change);
            }
            if self.done {
                return None;
            }
            let event = self.events.next_event().await;
            self.on_event(event);
        }
    }

    /// Turns one client event (`None`: the stream ended) into the states it means.
    fn on_event(&mut self, event: Option<SessionEvent>) {
        use ConnectionState as C;
        // The state the pending queue leads to: what a new state is compared with.
        let last = self.pending.back().copied().unwrap_or(self.last);
        let push = |pending: &mut VecDeque<C>, state: C, last: &mut C| {
            if state != *last {
                pending.push_back(state);
                *last = state;
            }
        };
        let mut at = last;
        let q = &mut self.pending;
        match event {
            Some(SessionEvent::Connected) => push(q, C::Connected, &mut at),
            Some(SessionEvent::ConnectedReadOnly) => push(q, C::ReadOnly, &mut at),
            Some(SessionEvent::Disconnected) if at != C::Lost => push(q, C::Suspended, &mut at),
            Some(SessionEvent::Disconnected) => {}
            Some(SessionEvent::Reconnected) => push(q, C::Reconnected, &mut at),
            Some(SessionEvent::TimeoutElapsed) => {
                push(q, C::Suspended, &mut at);
                push(q, C::Lost, &mut at);
            }
            Some(SessionEvent::Expired) => {
                // A client hears of an expiry only after a disconnect, however brief.
                if at != C::Lost {
                    push(q, C::Suspended, &mut at);
                }
                push(q, C::Lost, &mut at);
                self.epoch += 1;
            }
            Some(SessionEvent::NewSession { .. }) => push(q, C::NewSession, &mut at),
            Some(SessionEvent::Closed | SessionEvent::AuthFailed) | None => {
                push(q, C::Lost, &mut at);
                self.done = true;
            }
            // Events added to zk-core later: nothing a recipe acts on.
            Some(_) => {}
        }
    }
}

/// True when `e` ended a session that `client` replaces by itself: an expiry on a client
/// that opens a new session (zk-core's default). A recipe then carries on there instead of
/// ending.
pub(crate) fn renews_after(client: &Client, e: &zk_core::Error) -> bool {
    *e == zk_core::Error::SessionExpired && !client.state().is_terminal()
}

/// The error of a session of epoch `epoch` that is over (`None` while it lasts): a later
/// epoch means it expired; a terminal state says how the client ended.
pub(crate) fn ended_since(client: &Client, epoch: u64) -> Option<crate::Error> {
    let status = client.status();
    if !status.has_ended(epoch) {
        return None;
    }
    let why = match status.state {
        zk_core::SessionState::AuthFailed => zk_core::Error::AuthFailed,
        zk_core::SessionState::Closed => zk_core::Error::Closed,
        _ => zk_core::Error::SessionExpired,
    };
    Some(crate::Error::SessionEnded(why))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use zk_testing::TestServer;

    /// Every change the tracker reports, until none is pending.
    fn drain(t: &mut SessionTracker) -> Vec<ConnectionState> {
        std::iter::from_fn(|| t.poll_change()).take(10).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_connection_is_suspended_then_reconnected() {
        let server = TestServer::builder().no_tcp().seed(1).start().await.unwrap();
        let client = server.client().await.unwrap();
        let mut t = SessionTracker::new(&client);
        assert_eq!(t.state(), ConnectionState::Connected);
        server.drop_connection(client.session_id());
        assert_eq!(t.next().await, Some(ConnectionState::Suspended));
        assert_eq!(t.next().await, Some(ConnectionState::Reconnected));
        assert!(t.is_connected());
    }

    #[tokio::test(start_paused = true)]
    async fn an_expiry_is_suspended_lost_then_a_new_session_even_when_seen_late() {
        let server = TestServer::builder().no_tcp().seed(2).start().await.unwrap();
        let client =
            server.client_builder().session_timeout(Duration::from_secs(10)).connect().await.unwrap();
        let mut t = SessionTracker::new(&client);
        server.expire_session(client.session_id());
        // Looked at only once the new session is up: the order is kept all the same.
        client.state_watch().wait_for(|s| s.epoch == 1 && s.state.is_connected()).await.unwrap();
        use ConnectionState::*;
        assert_eq!(drain(&mut t), [Suspended, Lost, NewSession]);
        assert_eq!(t.epoch(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_partition_is_lost_at_the_timeout_and_then_a_new_session() {
        let server = TestServer::builder().no_tcp().seed(3).start().await.unwrap();
        let client =
            server.client_builder().session_timeout(Duration::from_secs(10)).connect().await.unwrap();
        let mut t = SessionTracker::new(&client);
        server.partition_session(client.session_id(), Duration::from_secs(40));
        use ConnectionState::*;
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(t.next().await.unwrap());
        }
        assert_eq!(seen, [Suspended, Lost, NewSession]);
        assert_eq!(client.status().epoch, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_client_is_lost_and_ends() {
        let server = TestServer::builder().no_tcp().seed(4).start().await.unwrap();
        let client = server.client().await.unwrap();
        let mut t = SessionTracker::new(&client);
        client.close().await;
        assert_eq!(t.next().await, Some(ConnectionState::Lost), "closed: no Suspended first");
        assert_eq!(t.next().await, None);
    }
}
