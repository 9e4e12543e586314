//! [`PathCache`]: the children of one node, as Curator's `PathChildrenCache`.

use std::collections::BTreeMap;

use zk_core::{Client, Stat};

use super::engine::Cache;
use super::model::{rel_depth, Change, NodeData};
use super::view::CacheView;
use crate::error::{Error, Result};

/// A cached child of a [`PathCache`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildData {
    /// The child's data; `None` when the cache keeps no data ([`PathCache::with_data`]).
    pub data: Option<Vec<u8>>,
    /// The child's metadata.
    pub stat: Stat,
}

/// A change of the children a [`PathCache`] watches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathEvent {
    /// A child appeared (it was created, or found at start).
    ChildAdded {
        /// The child's name (not its path).
        name: String,
        /// Its data and stat.
        child: ChildData,
    },
    /// A child's data changed (or it was deleted and created again in between).
    ChildUpdated {
        /// The child's name.
        name: String,
        /// Its new data and stat.
        child: ChildData,
    },
    /// A child was deleted.
    ChildRemoved {
        /// The child's name.
        name: String,
        /// Its last cached value.
        last: ChildData,
    },
    /// The snapshot is in sync with the server (after [`PathCache::start`] and each
    /// [`PathCache::rebuild`]).
    Initialized,
    /// The cache stopped following the server: [`Error::SessionEnded`] when the session
    /// ended (on a client that opens a new session by itself, zk-core's default, the cache
    /// follows the server again there, reporting the differences and `Initialized`; on one
    /// built with `OnExpiry::End`, use [`PathCache::rebuild`] with a new client),
    /// [`Error::RetriesExhausted`] when re-syncs kept failing. The snapshot is kept as it was.
    Lost(Error),
}

/// A cache of the children of one node: a [`Stream`](futures::Stream) of [`PathEvent`]s and
/// a snapshot name -> [`ChildData`] ([`PathCache::current`]); its life cycle is every
/// [`Cache`]'s.
///
/// It holds one persistent recursive watch on the parent (events deeper than the children
/// are ignored), or, where the server lacks `addWatch`, one-shot watches: data and children
/// of the parent, data of each child (the child counters of a child's `Stat` are then as of
/// its last data read). The parent need not exist: children appear when it is created. See
/// the [module docs](super) for the session events and the ordering guarantees.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use zk_core::CreateMode;
/// use zk_recipes::cache::{PathCache, PathEvent};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let zk = server.client().await?;
/// zk.create("/workers", b"", CreateMode::Persistent).await?;
/// let mut cache = PathCache::new(zk.clone(), "/workers")?;
/// cache.start();
/// assert_eq!(cache.next().await, Some(PathEvent::Initialized));
///
/// zk.create("/workers/w1", b"10.0.0.1", CreateMode::Ephemeral).await?;
/// assert!(matches!(cache.next().await, Some(PathEvent::ChildAdded { name, .. }) if name == "w1"));
/// assert_eq!(cache.current().keys().collect::<Vec<_>>(), ["w1"]);
/// # Ok(())
/// # }
/// ```
pub type PathCache = Cache<PathEvent>;

/// What a [`PathCache`] adds to every cache.
impl Cache<PathEvent> {
    /// A cache of the children of `path`, keeping their data; nothing is read until
    /// [`start`](Self::start).
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] when `path` is not a valid path.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        let mut cache = Cache::with_scope(client, path, 1, to_event)?;
        cache.hide_root();
        Ok(cache)
    }

    /// Whether to keep the children's data (default true), as Curator's `cacheData`. Without
    /// it the cache still reads each child's data (with its stat) but does not keep it:
    /// snapshots and events carry `data: None`, and a change of a child's data is still
    /// reported (its stat changed).
    pub fn with_data(mut self, keep: bool) -> Self {
        self.set_keep_data(keep);
        self
    }

    /// The children as last read, by name.
    pub fn current(&self) -> BTreeMap<String, ChildData> {
        self.view.current()
    }

    /// One child as last read.
    pub fn get(&self, name: &str) -> Option<ChildData> {
        self.view.get(name)
    }
}

/// The reads of a [`PathCache`].
impl CacheView<PathEvent> {
    /// The children as last read, by name.
    pub fn current(&self) -> BTreeMap<String, ChildData> {
        let root = self.path();
        self.with_model(|m| {
            m.children(root)
                .into_iter()
                .filter_map(|name| {
                    let node = m.nodes.get(&zk_core::path::join(root, &name))?;
                    Some((name, child(m.keep_data, node.clone())))
                })
                .collect()
        })
    }

    /// One child as last read.
    pub fn get(&self, name: &str) -> Option<ChildData> {
        let path = zk_core::path::join(self.path(), name);
        self.with_model(|m| m.nodes.get(&path).map(|n| child(m.keep_data, n.clone())))
    }
}

/// What a [`PathCache`] shows of a child: its data only when it keeps data.
fn child(keep_data: bool, n: NodeData) -> ChildData {
    ChildData { data: keep_data.then_some(n.data), stat: n.stat }
}

/// The name of `path` when it is a child of `root`; `None` for deeper nodes and the root.
fn child_name(root: &str, path: &str) -> Option<String> {
    (rel_depth(root, path) == Some(1)).then(|| path.rsplit('/').next().unwrap_or_default().to_owned())
}

fn to_event(root: &str, keep_data: bool, change: Change) -> Option<PathEvent> {
    let name = |p: &str| child_name(root, p);
    let show = |n: NodeData| child(keep_data, n);
    match change {
        Change::Added(p, n) => Some(PathEvent::ChildAdded { name: name(&p)?, child: show(n) }),
        Change::Updated(p, n) => Some(PathEvent::ChildUpdated { name: name(&p)?, child: show(n) }),
        Change::Removed(p, n) => Some(PathEvent::ChildRemoved { name: name(&p)?, last: show(n) }),
        Change::Initialized => Some(PathEvent::Initialized),
        Change::Lost(e) => Some(PathEvent::Lost(e)),
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use zk_core::CreateMode;

    use super::{PathCache, PathEvent};

    /// Without data the model itself keeps none (not only the events and snapshots).
    #[tokio::test(start_paused = true)]
    async fn without_data_the_model_keeps_none() {
        let server = zk_testing::TestServer::builder().no_tcp().seed(5).start().await.unwrap();
        let zk = server.client().await.unwrap();
        zk.create("/w", b"parent", CreateMode::Persistent).await.unwrap();
        zk.create("/w/a", b"secret", CreateMode::Persistent).await.unwrap();
        let mut cache = PathCache::new(zk.clone(), "/w").unwrap().with_data(false);
        cache.start().unwrap();
        assert!(matches!(cache.next().await, Some(PathEvent::ChildAdded { .. })));
        assert_eq!(cache.next().await, Some(PathEvent::Initialized));
        zk.create("/w/b", b"more", CreateMode::Persistent).await.unwrap();
        zk.set_data("/w/a", b"other", None).await.unwrap();
        assert!(matches!(cache.next().await, Some(PathEvent::ChildAdded { .. })));
        assert!(matches!(cache.next().await, Some(PathEvent::ChildUpdated { .. })));
        let kept = cache.view.with_model(|m| m.nodes.values().map(|n| n.data.len()).collect::<Vec<_>>());
        assert_eq!(kept, [0, 0, 0], "the parent and both children, without their data");
    }
}
