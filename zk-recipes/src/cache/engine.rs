//! [`Cache<E>`], the one handle behind the three caches: it starts, rebuilds and stops the
//! background task ([`Run`]) and turns the task's [`Change`]s into the events `E` of its kind;
//! it reads the state it shares with the task ([`Shared`]) through its [`CacheView`]. Each
//! kind (`node.rs`, `children.rs`, `tree.rs`) adds only its constructor, its options and its
//! reads of the snapshot.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zk_core::path::validate_path;
use zk_core::Client;

use super::model::Change;
use super::shared::{Scope, Shared, WatchStrategy};
use super::task::Run;
use super::view::CacheView;
use crate::error::{Error, Result};
use crate::lifecycle::Lifecycle;
use crate::lock;

/// Items a stream poll takes from the channel before yielding to the executor.
const POLL_BUDGET: usize = 1024;

/// A kind's event for a change, given the cache's root and whether it keeps data; `None` when
/// the kind does not show that change (a [`PathCache`](super::PathCache) shows only the
/// children).
pub(super) type ToEvent<E> = fn(root: &str, keep_data: bool, change: Change) -> Option<E>;

/// A cache of znodes: a [`Stream`] of events `E`, and a snapshot that a background task keeps
/// equal to the server's nodes.
///
/// The event type also names the kind of cache: [`NodeCache`](super::NodeCache) is
/// `Cache<NodeEvent>` (one node), [`PathCache`](super::PathCache) is `Cache<PathEvent>` (the
/// children of a node) and [`TreeCache`](super::TreeCache) is `Cache<TreeEvent>` (a subtree).
/// Every kind has the life cycle documented here ([`start`](Self::start),
/// [`initialized`](Self::initialized), [`rebuild`](Self::rebuild), [`close`](Self::close),
/// dropping it) and hands out [`CacheView`]s to read the snapshot from other tasks; each kind
/// adds its constructor, its options and its reads of the snapshot. See the
/// [module docs](super) for the session events and the ordering guarantees.
pub struct Cache<E> {
    client: Mutex<Client>,
    scope: Scope,
    /// The snapshot and status, shared with the task (and any views handed out).
    pub(super) view: CacheView<E>,
    task: Mutex<Lifecycle<JoinHandle<()>>>,
    tx: Mutex<Option<mpsc::UnboundedSender<Change>>>,
    rx: mpsc::UnboundedReceiver<Change>,
    to_event: ToEvent<E>,
}

// What the kinds build a cache from.
impl<E> Cache<E> {
    /// A cache of the subtree at `root` down to `max_depth`, showing changes as `to_event`
    /// says.
    pub(super) fn with_scope(
        client: Client,
        root: &str,
        max_depth: usize,
        to_event: ToEvent<E>,
    ) -> Result<Self> {
        validate_path(root)?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Cache {
            client: Mutex::new(client),
            scope: Scope { root: root.to_owned(), max_depth, root_shown: true },
            view: CacheView::new(Arc::new(Shared::new(root))),
            task: Mutex::new(Lifecycle::New),
            tx: Mutex::new(Some(tx)),
            rx,
            to_event,
        })
    }

    pub(super) fn set_max_depth(&mut self, max_depth: usize) {
        self.scope.max_depth = max_depth;
    }

    pub(super) fn set_keep_data(&mut self, keep: bool) {
        lock(&self.view.shared.model).keep_data = keep;
    }

    /// The root is kept in the model (its children hang from it) but never shown, so its
    /// child counters are not re-read after each child's create or delete.
    pub(super) fn hide_root(&mut self) {
        self.scope.root_shown = false;
    }
}

/// The life cycle every kind of cache shares.
impl<E> Cache<E> {
    /// The watched path: the node of a [`NodeCache`](super::NodeCache), the parent of a
    /// [`PathCache`](super::PathCache), the root of a [`TreeCache`](super::TreeCache).
    pub fn path(&self) -> &str {
        &self.scope.root
    }

    /// Starts the background task, which reads the nodes and follows them. A second call
    /// does nothing; after a `Lost` event of a client that ended, use
    /// [`rebuild`](Self::rebuild).
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(&self) -> Result<()> {
        let mut task = lock(&self.task);
        let Some(tx) = lock(&self.tx).clone() else { return Err(Error::Closed) };
        task.start(|| {
            let shared = self.view.shared.clone();
            shared.status.send_modify(|s| {
                s.initialized = false;
                s.lost = None;
            });
            let client = lock(&self.client).clone();
            tokio::spawn(Run::new(client, self.scope.clone(), shared, tx).run())
        })
    }

    /// Waits until the snapshot is first in sync with the server.
    ///
    /// # Errors
    /// The error of the `Lost` event when the cache stopped first; [`Error::Closed`] when it
    /// was closed.
    ///
    /// # Cancellation
    /// Safe to drop at any time; it only waits.
    pub async fn initialized(&self) -> Result<()> {
        self.view.initialized().await
    }

    /// [`initialized`](Self::initialized) for at most `timeout` (the crate's one deadline
    /// convention): `false` when the time ran out first.
    ///
    /// # Errors
    /// As [`initialized`](Self::initialized).
    ///
    /// # Cancellation
    /// Safe to drop at any time; it only waits.
    pub async fn initialized_timeout(&self, timeout: std::time::Duration) -> Result<bool> {
        self.view.initialized_timeout(timeout).await
    }

    /// How this cache learns of changes (`None` before the task set its watch).
    pub fn strategy(&self) -> Option<WatchStrategy> {
        self.view.strategy()
    }

    /// Why the cache stopped following the server: the error of its last `Lost` event, until
    /// it follows the server again; `None` while it follows the server (or is still trying
    /// to). See [`CacheView::lost`].
    pub fn lost(&self) -> Option<Error> {
        self.view.lost()
    }

    /// A read handle on the snapshot and status, for other tasks: cheap to clone, and
    /// readable while this cache's events are drained (which needs `&mut` on the cache).
    pub fn view(&self) -> CacheView<E> {
        self.view.clone()
    }

    /// Follows the server again with `client` (a new session after the old one ended): stops
    /// the old task, reads everything with the new client and reports only what differs from
    /// the kept snapshot, then `Initialized`.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Cancellation
    /// Dropped before it completes, the old task is stopped but the new one may not be
    /// started: call `rebuild` again.
    pub async fn rebuild(&self, client: Client) -> Result<()> {
        let old = lock(&self.task).restart()?;
        if let Some(t) = old {
            t.abort();
            let _ = t.await;
        }
        *lock(&self.client) = client;
        self.start()
    }

    /// Stops the task and removes the watch; the stream ends after the events already
    /// buffered. Idempotent; later [`start`](Self::start)s fail with [`Error::Closed`].
    ///
    /// # Errors
    /// None today (a cache creates no node to delete): the `Result` is the one shape every
    /// handle's `close` has.
    ///
    /// # Cancellation
    /// Safe to drop: the task is aborted at once.
    pub async fn close(&self) -> Result<()> {
        self.view.shared.status.send_modify(|s| s.closed = true);
        lock(&self.tx).take();
        let task = lock(&self.task).close();
        if let Some(t) = task {
            t.abort();
            let _ = t.await;
        }
        Ok(())
    }
}

impl<E> Stream for Cache<E> {
    type Item = E;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        let this = self.get_mut();
        let keep_data = this.view.with_model(|m| m.keep_data);
        for _ in 0..POLL_BUDGET {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(c)) => {
                    if let Some(event) = (this.to_event)(&this.scope.root, keep_data, c) {
                        return Poll::Ready(Some(event));
                    }
                }
                other => return other.map(|_| None),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<E> fmt::Debug for Cache<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.view.shared.status.borrow().clone();
        f.debug_struct("Cache").field("scope", &self.scope).field("status", &status).finish_non_exhaustive()
    }
}

impl<E> Drop for Cache<E> {
    fn drop(&mut self) {
        // Views may outlive the cache: tell their waiters it is gone.
        self.view.shared.status.send_modify(|s| s.closed = true);
        if let Some(t) = lock(&self.task).close() {
            t.abort();
        }
    }
}
