//! [`NodeCache`]: one node, as Curator's `NodeCache`.

use zk_core::Client;

use super::engine::Cache;
use super::model::{Change, NodeData};
use super::view::CacheView;
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
    /// ended (on a client that opens a new session by itself, zk-core's default, the cache
    /// follows the server again there, reporting the differences and `Initialized`; on one
    /// built with `OnExpiry::End`, use [`NodeCache::rebuild`] with a new client),
    /// [`Error::RetriesExhausted`] when re-syncs kept failing. The snapshot is kept as it was.
    Lost(Error),
}

/// A cache of one node: a [`Stream`](futures::Stream) of [`NodeEvent`]s and the node's
/// current value ([`NodeCache::current`]); its life cycle is every [`Cache`]'s.
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
pub type NodeCache = Cache<NodeEvent>;

/// What a [`NodeCache`] adds to every cache.
impl Cache<NodeEvent> {
    /// A cache of the node at `path` (which need not exist); nothing is read until
    /// [`start`](Self::start).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        Cache::with_scope(client, path, 0, to_event)
    }

    /// The node as last read: `None` while it does not exist (or before the first read).
    pub fn current(&self) -> Option<NodeData> {
        self.view.current()
    }
}

/// The reads of a [`NodeCache`].
impl CacheView<NodeEvent> {
    /// The node as last read: `None` while it does not exist (or before the first read).
    pub fn current(&self) -> Option<NodeData> {
        self.with_model(|m| m.nodes.get(self.path()).cloned())
    }
}

fn to_event(_root: &str, _keep_data: bool, change: Change) -> Option<NodeEvent> {
    Some(match change {
        Change::Added(_, n) => NodeEvent::Created(n),
        Change::Updated(_, n) => NodeEvent::Changed(n),
        Change::Removed(_, n) => NodeEvent::Deleted(n),
        Change::Initialized => NodeEvent::Initialized,
        Change::Lost(e) => NodeEvent::Lost(e),
    })
}
