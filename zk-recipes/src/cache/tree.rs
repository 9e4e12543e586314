//! [`TreeCache`]: a whole subtree, as Curator's `TreeCache` / `CuratorCache`.

use std::collections::BTreeMap;

use zk_core::Client;

use super::engine::Cache;
use super::model::{Change, NodeData};
use super::view::CacheView;
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
    /// ended (on a client that opens a new session by itself, zk-core's default, the cache
    /// follows the server again there, reporting the differences and `Initialized`; on one
    /// built with `OnExpiry::End`, use [`TreeCache::rebuild`] with a new client),
    /// [`Error::RetriesExhausted`] when re-syncs kept failing. The snapshot is kept as it was.
    Lost(Error),
}

/// A cache of a subtree (the root included), optionally down to a depth: a
/// [`Stream`](futures::Stream) of [`TreeEvent`]s and a snapshot full path -> [`NodeData`]
/// ([`TreeCache::current`]); its life cycle is every [`Cache`]'s.
///
/// It holds one persistent recursive watch on the root (events below the depth limit are
/// ignored), or, where the server lacks `addWatch`, one-shot watches: a data watch on every
/// cached node and a child watch on every cached node above the depth limit. The root need
/// not exist. See the [module docs](super) for an example, the session events and the
/// ordering guarantees.
pub type TreeCache = Cache<TreeEvent>;

/// What a [`TreeCache`] adds to every cache.
impl Cache<TreeEvent> {
    /// A cache of the subtree at `path`, with no depth limit; nothing is read until
    /// [`start`](Self::start).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        Cache::with_scope(client, path, usize::MAX, to_event)
    }

    /// Caches nodes down to `depth` levels below the root only (0: the root alone, 1: the
    /// root and its children, ...), as Curator's `TreeCache.setMaxDepth`.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.set_max_depth(depth);
        self
    }

    /// Every cached node by full path, as last read.
    pub fn current(&self) -> BTreeMap<String, NodeData> {
        self.view.current()
    }

    /// One cached node.
    pub fn get(&self, path: &str) -> Option<NodeData> {
        self.view.get(path)
    }

    /// The names of a cached node's cached children, sorted.
    pub fn children(&self, path: &str) -> Vec<String> {
        self.view.children(path)
    }
}

/// The reads of a [`TreeCache`].
impl CacheView<TreeEvent> {
    /// Every cached node by full path, as last read.
    pub fn current(&self) -> BTreeMap<String, NodeData> {
        self.with_model(|m| m.nodes.clone())
    }

    /// One cached node.
    pub fn get(&self, path: &str) -> Option<NodeData> {
        self.with_model(|m| m.nodes.get(path).cloned())
    }

    /// The names of a cached node's cached children, sorted.
    pub fn children(&self, path: &str) -> Vec<String> {
        self.with_model(|m| m.children(path))
    }
}

fn to_event(_root: &str, _keep_data: bool, change: Change) -> Option<TreeEvent> {
    Some(match change {
        Change::Added(path, node) => TreeEvent::NodeAdded { path, node },
        Change::Updated(path, node) => TreeEvent::NodeUpdated { path, node },
        Change::Removed(path, last) => TreeEvent::NodeRemoved { path, last },
        Change::Initialized => TreeEvent::Initialized,
        Change::Lost(e) => TreeEvent::Lost(e),
    })
}
