//! [`TreeCache`]: a whole subtree, as Curator's `TreeCache` / `CuratorCache`.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use zk_core::Client;

use super::engine::Engine;
use super::model::{Change, NodeData};
use super::shared::WatchStrategy;
use crate::error::{Error, Result};

/// A change in the subtree a [`TreeCache`] watches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeEvent {
    /// A node appeared (it was created, or found at start). Parents come before children.
    NodeAdded {
        /// Its full path.
        path: String,
        /// Its data and stat.
        node: NodeData,
    },
    /// A node's data changed (or it was deleted and created again in between).
    NodeUpdated {
        /// Its full path.
        path: String,
        /// Its new data and stat.
        node: NodeData,
    },
    /// A node was deleted. Children come before parents.
    NodeRemoved {
        /// Its full path.
        path: String,
        /// Its last cached value.
        last: NodeData,
    },
    /// The snapshot is in sync with the server (after [`TreeCache::start`] and each
    /// [`TreeCache::rebuild`]).
    Initialized,
    /// The cache stopped following the server: [`Error::SessionEnded`] when the session
    /// ended (use [`TreeCache::rebuild`] with a new client), [`Error::RetriesExhausted`] when
    /// re-syncs kept failing. The snapshot is kept as it was.
    Lost(Error),
}

/// A cache of a subtree (the root included), optionally down to a depth: a [`Stream`] of
/// [`TreeEvent`]s and a snapshot full path -> [`NodeData`] ([`TreeCache::current`]).
///
/// It holds one persistent recursive watch on the root (events below the depth limit are
/// ignored), or, where the server lacks `addWatch`, one-shot watches: a data watch on every
/// cached node and a child watch on every cached node above the depth limit. The root need
/// not exist. See the [module docs](super) for an example, the session events and the
/// ordering guarantees.
#[derive(Debug)]
pub struct TreeCache {
    engine: Engine,
}

impl TreeCache {
    /// A cache of the subtree at `path`, with no depth limit; nothing is read until
    /// [`TreeCache::start`].
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        Ok(TreeCache { engine: Engine::new(client, path, usize::MAX)? })
    }

    /// Caches nodes down to `depth` levels below the root only (0: the root alone, 1: the
    /// root and its children, ...), as Curator's `TreeCache.setMaxDepth`.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.engine.set_max_depth(depth);
        self
    }

    /// Carries on by itself after the session expires: the cache reports
    /// [`TreeEvent::Lost`], opens a new session with `factory` and reads everything again,
    /// reporting only what differs from the kept snapshot, then [`TreeEvent::Initialized`]
    /// (without a factory, it stops at `Lost` until [`TreeCache::rebuild`]).
    ///
    /// The new session is the cache's own: close it with [`TreeCache::close`] (or by dropping
    /// the cache), not through the client given to `new`.
    pub fn renew_sessions(mut self, factory: crate::SessionFactory) -> Self {
        self.engine.set_factory(factory);
        self
    }

    /// The root's path.
    pub fn path(&self) -> &str {
        self.engine.root()
    }

    /// Starts the background task. Later calls do nothing (after [`TreeCache::close`] too);
    /// after a `Lost` event use [`TreeCache::rebuild`].
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
    /// The error of [`TreeEvent::Lost`] when the cache stopped first; [`Error::Closed`] when
    /// it was closed.
    ///
    /// # Cancellation
    /// Safe to drop at any time; it only waits.
    pub async fn initialized(&self) -> Result<()> {
        self.engine.initialized().await
    }

    /// Every cached node by full path, as last read.
    pub fn current(&self) -> BTreeMap<String, NodeData> {
        self.engine.with_model(|m| m.nodes.clone())
    }

    /// One cached node.
    pub fn get(&self, path: &str) -> Option<NodeData> {
        self.engine.with_model(|m| m.nodes.get(path).cloned())
    }

    /// The names of a cached node's cached children, sorted.
    pub fn children(&self, path: &str) -> Vec<String> {
        self.engine.with_model(|m| m.children(path))
    }

    /// How this cache learns of changes (`None` before the task set its watch).
    pub fn strategy(&self) -> Option<WatchStrategy> {
        self.engine.strategy()
    }

    /// Follows the server again with `client` (a new session after the old one ended):
    /// stops the old task, reads the subtree with the new client and reports only what
    /// differs from the kept snapshot, then [`TreeEvent::Initialized`].
    ///
    /// # Errors
    /// [`Error::Closed`] after [`TreeCache::close`].
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

impl Stream for TreeCache {
    type Item = TreeEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TreeEvent>> {
        self.get_mut().engine.poll_change(cx, |_, c| {
            Some(match c {
                Change::Added(path, node) => TreeEvent::NodeAdded { path, node },
                Change::Updated(path, node) => TreeEvent::NodeUpdated { path, node },
                Change::Removed(path, last) => TreeEvent::NodeRemoved { path, last },
                Change::Initialized => TreeEvent::Initialized,
                Change::Lost(e) => TreeEvent::Lost(e),
            })
        })
    }
}
