//! [`NodeCache`]: one node, as Curator's `NodeCache`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use zk_core::Client;

use super::engine::Engine;
use super::model::{Change, NodeData};
use super::shared::WatchStrategy;
use crate::error::{Error, Result};

/// A change of the node a [`NodeCache`] watches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// The node exists now (it was created, or found at start).
    Created(NodeData),
    /// The node's data changed (or it was deleted and created again in between).
    Changed(NodeData),
    /// The node was deleted; its last cached value.
    Deleted(NodeData),
    /// The snapshot is in sync with the server (after [`NodeCache::start`] and each
    /// [`NodeCache::rebuild`]).
    Initialized,
    /// The cache stopped following the server: [`Error::SessionEnded`] when the session
    /// ended (use [`NodeCache::rebuild`] with a new client), [`Error::RetriesExhausted`] when
    /// re-syncs kept failing. The snapshot is kept as it was.
    Lost(Error),
}

/// A cache of one node: a [`Stream`] of [`NodeEvent`]s and the node's current value
/// ([`NodeCache::current`]).
///
/// It holds one persistent (non-recursive) watch on the node, or a one-shot data watch where
/// the server lacks `addWatch` (no child watch: in that mode the child counters of the
/// node's [`Stat`](zk_core::Stat) are as of its last data read). See the
/// [module docs](super) for the session events and the ordering guarantees.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use zk_core::CreateMode;
/// use zk_recipes::cache::{NodeCache, NodeEvent};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let zk = server.client().await?;
/// let mut cache = NodeCache::new(zk.clone(), "/feature-flag")?;
/// cache.start();
/// assert_eq!(cache.next().await, Some(NodeEvent::Initialized));
/// assert_eq!(cache.current(), None);
///
/// zk.create("/feature-flag", b"on", CreateMode::Persistent).await?;
/// assert!(matches!(cache.next().await, Some(NodeEvent::Created(n)) if n.data == b"on"));
/// assert_eq!(cache.current().map(|n| n.data), Some(b"on".to_vec()));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct NodeCache {
    engine: Engine,
}

impl NodeCache {
    /// A cache of the node at `path` (which need not exist); nothing is read until
    /// [`NodeCache::start`].
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        Ok(NodeCache { engine: Engine::new(client, path, 0)? })
    }

    /// Carries on by itself after the session expires: the cache reports
    /// [`NodeEvent::Lost`], opens a new session with `factory` and reads everything again,
    /// reporting only what differs from the kept snapshot, then [`NodeEvent::Initialized`]
    /// (without a factory, it stops at `Lost` until [`NodeCache::rebuild`]).
    ///
    /// The new session is the cache's own: close it with [`NodeCache::close`] (or by dropping
    /// the cache), not through the client given to `new`.
    pub fn renew_sessions(mut self, factory: crate::SessionFactory) -> Self {
        self.engine.set_factory(factory);
        self
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        self.engine.root()
    }

    /// Starts the background task. Later calls do nothing (after [`NodeCache::close`] too);
    /// after a `Lost` event use [`NodeCache::rebuild`].
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(&self) {
        self.engine.start();
    }

    /// Waits until the snapshot is first in sync with the server (no deadline: wrap it in
    /// `tokio::time::timeout`).
    ///
    /// # Errors
    /// The error of [`NodeEvent::Lost`] when the cache stopped first; [`Error::Closed`] when
    /// it was closed.
    ///
    /// # Cancellation
    /// Safe to drop at any time; it only waits.
    pub async fn initialized(&self) -> Result<()> {
        self.engine.initialized().await
    }

    /// The node as last read: `None` while it does not exist (or before the first read).
    pub fn current(&self) -> Option<NodeData> {
        let root = self.engine.root().to_owned();
        self.engine.with_model(|m| m.nodes.get(&root).cloned())
    }

    /// How this cache learns of changes (`None` before the task set its watch).
    pub fn strategy(&self) -> Option<WatchStrategy> {
        self.engine.strategy()
    }

    /// Follows the server again with `client` (a new session after the old one ended):
    /// stops the old task, reads the node with the new client and reports only what differs
    /// from the kept snapshot, then [`NodeEvent::Initialized`].
    ///
    /// # Errors
    /// [`Error::Closed`] after [`NodeCache::close`].
    ///
    /// # Cancellation
    /// Dropped before it completes, the old task is stopped but the new one may not be
    /// started: call `rebuild` again.
    pub async fn rebuild(&self, client: Client) -> Result<()> {
        self.engine.rebuild(client).await
    }

    /// Stops the task and removes the watch; the stream ends after the events already
    /// buffered. Idempotent.
    ///
    /// # Cancellation
    /// Safe to drop: the task is aborted at once.
    pub async fn close(&self) {
        self.engine.close().await;
    }
}

impl Stream for NodeCache {
    type Item = NodeEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NodeEvent>> {
        self.get_mut().engine.poll_change(cx, |_, c| {
            Some(match c {
                Change::Added(_, n) => NodeEvent::Created(n),
                Change::Updated(_, n) => NodeEvent::Changed(n),
                Change::Removed(_, n) => NodeEvent::Deleted(n),
                Change::Initialized => NodeEvent::Initialized,
                Change::Lost(e) => NodeEvent::Lost(e),
            })
        })
    }
}
