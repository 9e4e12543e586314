//! Watchers as values: a one-shot watch is a future, a persistent watch and the session's
//! state changes are streams.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Error, Result};
use crate::session::state::{SessionEvent, SessionState, SessionStatus, Snapshot};
use crate::session::watches::{WatchKind, WatchedEvent};
use crate::session::Unwatch;

/// Tells the session task that a watcher handle went away before its watch fired.
struct UnwatchOnDrop {
    tx: mpsc::UnboundedSender<Unwatch>,
    kind: WatchKind,
    path: String,
    id: u64,
}

impl UnwatchOnDrop {
    fn send(self) {
        let _ = self.tx.send(Unwatch { kind: self.kind, path: self.path, id: self.id });
    }
}

/// A one-shot watch: resolves once, with the first event on its node.
///
/// It resolves to `Err(SessionExpired)` / `Err(Closed)` / `Err(AuthFailed)` when the session
/// ends before the watch fired, and to an event of type `DataWatchRemoved` or
/// `ChildWatchRemoved` when the watch is removed with
/// [`Client::remove_watches`](crate::Client::remove_watches). A disconnect does not end it: the
/// watch is re-registered on reconnect (with the zxid catch-up of §7.5, so a change made
/// meanwhile still fires it).
///
/// Dropping it before it fires unregisters it, on the server too when no other local watcher
/// needs the same server-side watch.
///
/// # Cancellation safety
/// Dropping the future is the way to stop watching; nothing leaks.
pub struct OneshotWatcher {
    rx: oneshot::Receiver<Result<WatchedEvent>>,
    guard: Option<UnwatchOnDrop>,
}

impl OneshotWatcher {
    pub(crate) fn new(
        rx: oneshot::Receiver<Result<WatchedEvent>>,
        tx: mpsc::UnboundedSender<Unwatch>,
        kind: WatchKind,
        path: String,
        id: u64,
    ) -> Self {
        OneshotWatcher { rx, guard: Some(UnwatchOnDrop { tx, kind, path, id }) }
    }
}

impl fmt::Debug for OneshotWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.guard.as_ref().map(|g| g.path.as_str());
        f.debug_struct("OneshotWatcher").field("path", &path).finish()
    }
}

impl Future for OneshotWatcher {
    type Output = Result<WatchedEvent>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(r)) => r,
            Poll::Ready(Err(_)) => Err(Error::Closed),
        };
        self.guard = None;
        Poll::Ready(out)
    }
}

impl Drop for OneshotWatcher {
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            g.send();
        }
    }
}

/// A persistent (or persistent-recursive) watch from
/// [`Client::add_watch`](crate::Client::add_watch): a stream of every matching event.
///
/// Items are events; when the session ends (expired, closed, auth failed) the last item is
/// that error (`Err(SessionExpired)`, ...) and the stream ends: a watch is never carried
/// over to a new session silently. After a `PersistentWatchRemoved` event (the watch was
/// removed) the stream ends too. Across a reconnect the watch is
/// re-registered, but changes made while disconnected are not replayed (§7.7 of the protocol
/// reference); re-read the state after a `Reconnected` session event if that matters.
///
/// Dropping the stream unregisters the watch.
pub struct PersistentWatcher {
    rx: mpsc::UnboundedReceiver<Result<WatchedEvent>>,
    guard: Option<UnwatchOnDrop>,
}

impl PersistentWatcher {
    pub(crate) fn new(
        rx: mpsc::UnboundedReceiver<Result<WatchedEvent>>,
        tx: mpsc::UnboundedSender<Unwatch>,
        kind: WatchKind,
        path: String,
        id: u64,
    ) -> Self {
        PersistentWatcher { rx, guard: Some(UnwatchOnDrop { tx, kind, path, id }) }
    }

    /// The next event (or the error that ended the session), or `None` once the watch is over.
    pub async fn next_event(&mut self) -> Option<Result<WatchedEvent>> {
        self.rx.recv().await
    }
}

impl fmt::Debug for PersistentWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.guard.as_ref().map(|g| g.path.as_str());
        f.debug_struct("PersistentWatcher").field("path", &path).finish()
    }
}

impl Stream for PersistentWatcher {
    type Item = Result<WatchedEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<WatchedEvent>>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for PersistentWatcher {
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            g.send();
        }
    }
}

/// The session's state changes, from [`Client::session_events`](crate::Client::session_events).
///
/// Starts with the event that says where the session stood when it was made, then every
/// change: unbounded and lossless, in order. Ends after a terminal event (`Closed`,
/// `AuthFailed`, and `Expired` for a client that does not renew sessions).
pub struct SessionEvents {
    pub(crate) rx: mpsc::UnboundedReceiver<SessionEvent>,
}

impl SessionEvents {
    /// The next event, or `None` after the session ended.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.rx.recv().await
    }
}

impl fmt::Debug for SessionEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEvents").finish_non_exhaustive()
    }
}

impl Stream for SessionEvents {
    type Item = SessionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        self.rx.poll_recv(cx)
    }
}

/// The latest [`SessionStatus`] of a client, from
/// [`Client::state_watch`](crate::Client::state_watch): like a `tokio::sync::watch`
/// receiver, it sees the newest value, not every change (intermediate states may be skipped;
/// the status's `epoch` tells that a session ended even then).
#[derive(Clone)]
pub struct StateWatcher {
    rx: watch::Receiver<Snapshot>,
}

impl StateWatcher {
    pub(crate) fn new(mut rx: watch::Receiver<Snapshot>) -> Self {
        rx.mark_unchanged();
        StateWatcher { rx }
    }

    /// The status now.
    pub fn status(&self) -> SessionStatus {
        self.rx.borrow().status()
    }

    /// The state now.
    pub fn state(&self) -> SessionState {
        self.rx.borrow().state
    }

    /// Waits for a status newer than the last one this watcher returned (or than its creation),
    /// and returns it; `None` once the client has ended and nothing can change any more.
    ///
    /// # Cancellation safety
    /// Cancel-safe: a change that arrives meanwhile is returned by the next call.
    pub async fn changed(&mut self) -> Option<SessionStatus> {
        self.rx.changed().await.ok()?;
        Some(self.rx.borrow_and_update().status())
    }

    /// Resolves with the first status (the current one included) for which `pred` holds;
    /// `None` when the client ends with a status for which it does not.
    ///
    /// # Cancellation safety
    /// Cancel-safe.
    pub async fn wait_for(&mut self, mut pred: impl FnMut(&SessionStatus) -> bool) -> Option<SessionStatus> {
        let found = self.rx.wait_for(|s| pred(&s.status())).await.ok().map(|s| s.status());
        if found.is_none() {
            // The session task is gone: its last status is final.
            let last = self.rx.borrow().status();
            return pred(&last).then_some(last);
        }
        found
    }
}

impl fmt::Debug for StateWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateWatcher").field("status", &self.status()).finish()
    }
}
