//! Caches of znodes, each a [`Stream`](futures::Stream) of typed events plus a snapshot you
//! can read at any time:
//!
//! - [`NodeCache`]: one node ([`NodeEvent`]: created, changed, deleted; snapshot
//!   `Option<NodeData>`), as Curator's `NodeCache`;
//! - [`PathCache`]: the children of a node, optionally with their data ([`PathEvent`]:
//!   child added, updated, removed; snapshot name -> [`ChildData`]), as Curator's
//!   `PathChildrenCache`;
//! - [`TreeCache`]: a whole subtree, optionally down to a depth ([`TreeEvent`]: node added,
//!   updated, removed; snapshot full path -> [`NodeData`]), as Curator's `TreeCache`.
//!
//! # How they follow the server
//!
//! On ZooKeeper 3.6+ a cache holds **one** persistent watch, recursive below its root (plain
//! for a [`NodeCache`]), as Curator's `CuratorCache` does, and re-reads each node a
//! notification names. Where the server answers `addWatch` with `Unimplemented` the cache
//! falls back to one-shot data and child watches on every cached node (Curator's `TreeCache`
//! way); [`WatchStrategy`] tells which one is in use.
//!
//! Every event is a real difference between the snapshot before and after it: the snapshot is
//! updated first, then the event sent, so when you see an event the snapshot already shows
//! it. No event is duplicated. Changes are reported in the order the server made them (its
//! zxid order); a node changed several times before the cache re-read it is reported once,
//! with its latest data (ZooKeeper sends no data with notifications; Curator coalesces the
//! same way). The snapshot always converges to the server's state.
//!
//! # Life cycle and session events
//!
//! `new` checks the arguments, `start` spawns the background task; the first events describe
//! the nodes already there (added events, parents before children), then `Initialized`.
//! `close` (or dropping the cache) stops the task and removes its watch; the stream then ends.
//!
//! - **Disconnected**: the snapshot is kept as it was; nothing is reported.
//! - **Reconnected** (same session): the whole cached subtree is read again and only the
//!   differences from the snapshot are reported (a persistent watch does not replay what
//!   changed while disconnected). Re-syncs that fail are retried with backoff.
//! - **Expired** (or the client closed): `Lost(Error::SessionEnded(..))` is reported, the
//!   snapshot is kept (stale). A zk-core client never opens a second session, so the cache
//!   needs a new one: given a [`SessionFactory`](crate::SessionFactory) with
//!   `renew_sessions`, the cache opens a new session by itself; otherwise its task ends and
//!   `rebuild(new_client)` carries on (as [`LeaderLatch::rejoin`](crate::LeaderLatch::rejoin)
//!   rejoins an election). Either way it reads everything again, reports only the differences
//!   from the kept snapshot, then `Initialized` again.
//!
//! Nodes this session may not read (`NoAuth`) are left out of the snapshot. Events are
//! buffered without bound until the stream is polled.
//!
//! # Examples
//!
//! ```
//! use futures::StreamExt;
//! use zk_core::CreateMode;
//! use zk_recipes::cache::{TreeCache, TreeEvent};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
//! let zk = server.client().await?;
//! zk.create("/config", b"", CreateMode::Persistent).await?;
//!
//! let mut cache = TreeCache::new(zk.clone(), "/config")?;
//! cache.start();
//! assert!(matches!(cache.next().await, Some(TreeEvent::NodeAdded { .. })));
//! assert_eq!(cache.next().await, Some(TreeEvent::Initialized));
//!
//! zk.create("/config/db", b"primary", CreateMode::Persistent).await?;
//! match cache.next().await {
//!     Some(TreeEvent::NodeAdded { path, node }) => {
//!         assert_eq!((path.as_str(), node.data.as_slice()), ("/config/db", &b"primary"[..]))
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(cache.get("/config/db").map(|n| n.data), Some(b"primary".to_vec()));
//! cache.close().await;
//! # Ok(())
//! # }
//! ```

mod children;
mod engine;
mod model;
mod node;
mod task;
mod tree;

pub use children::{ChildData, PathCache, PathEvent};
pub use node::{NodeCache, NodeEvent};
pub use tree::{TreeCache, TreeEvent};

use zk_core::Stat;

/// A cached node: its data and [`Stat`] as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData {
    /// The node's data (empty for null data).
    pub data: Vec<u8>,
    /// The node's metadata.
    pub stat: Stat,
}

/// How a cache learns of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WatchStrategy {
    /// One persistent watch (`addWatch`, ZooKeeper 3.6+): recursive below the root, plain
    /// for a single node.
    Persistent,
    /// One-shot data and child watches on every cached node, set again after each fires (for
    /// servers without `addWatch`).
    OneShot,
}
