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
//! The three are one generic [`Cache`] (a `NodeCache` is a `Cache<NodeEvent>`, and so on):
//! they share its life cycle, and each hands out [`CacheView`]s ([`Cache::view`]), cheap
//! read handles that other tasks use while one task drains the events.
//!
//! # How they follow the server
//!
//! On ZooKeeper 3.6+ a cache holds **one** persistent watch, recursive below its root (plain
//! for a [`NodeCache`]), as Curator's `CuratorCache` does, and re-reads each node a
//! notification names. Where the server answers `addWatch` with `Unimplemented` the cache
//! falls back to one-shot watches (Curator's `TreeCache` way): a data watch on every cached
//! node, and a child watch on every cached node above the depth limit (none for a
//! [`NodeCache`], only the parent's for a [`PathCache`]). [`WatchStrategy`] tells which one is
//! in use. In that mode the [`Stat`] of a node at the depth limit (the node of a
//! [`NodeCache`], the children of a [`PathCache`]) is as of its last data read: its child
//! counters (`cversion`, `numChildren`, `pzxid`) may lag, as in Curator.
//!
//! # What the events promise
//!
//! Every event is a real difference between the snapshot before and after it: the snapshot is
//! updated first, then the event sent, so when you see an event the snapshot already shows
//! it. No event is duplicated, and the snapshot always converges to the server's state.
//!
//! ZooKeeper sends no data with its notifications, so each one makes the cache re-read the
//! node's *current* state. Hence:
//!
//! - **per node**, events come in the order of that node's changes, and each shows the
//!   node's latest state when it was read; a node changed several times before it was
//!   re-read is reported once, with its latest data (a node deleted and created again before
//!   the cache handled the deletion is reported updated, one created and deleted before the
//!   cache read it is not reported);
//! - **across nodes**, no order is promised: a later change of one node may be reported
//!   before an earlier change of another (the zxids in the events' [`Stat`]s tell the
//!   server's order). Curator's caches behave the same;
//! - a [`TreeCache`] reports parents before children when nodes are added, and children
//!   before parents when they are removed; a node whose parent is not cached (for example a
//!   parent this session may not read) is not cached either.
//!
//! # Throughput
//!
//! The notifications a persistent watch has delivered are handled in batches of up to 1024:
//! a node named several times in a batch is read once, and all the batch's reads are sent
//! together (pipelined on the session's connection), their answers applied in the order
//! sent; nodes found new are listed after that. A busy subtree thus costs about one round
//! trip per batch rather than per notification. Notifications not handled yet wait in the
//! watch's queue, which is not bounded (zk-core buffers them as the server sends them). In
//! the one-shot mode each fired watch is handled on its own (the server sends at most one
//! notification per watch until it is set again).
//!
//! # Life cycle and session events
//!
//! `new` checks the arguments, `start` spawns the background task; the first events describe
//! the nodes already there (added events, parents before children), then `Initialized`.
//! `close` (or dropping the cache) stops the task and removes its watch; the stream then ends.
//! Until then the cache follows the server however many changes it sees (there is no cap).
//!
//! - **Disconnected**: the snapshot is kept as it was; nothing is reported.
//! - **Reconnected** (same session), or connected to a read-only server: the whole cached
//!   subtree is read again and only the differences from the snapshot are reported (a
//!   persistent watch does not replay what changed while disconnected). Re-syncs that fail
//!   are retried under the client's retry policy; once the policy gives up the cache reports
//!   `Lost(Error::RetriesExhausted(..))`.
//! - **Expired** (or the client closed): `Lost(Error::SessionEnded(..))` is reported, the
//!   snapshot is kept (stale). On a client that opens a new session by itself (zk-core's
//!   default) the cache follows the server again on that session. A client built with
//!   `OnExpiry::End` ends with its session: the cache's task ends and `rebuild(new_client)`
//!   carries on (as [`LeaderLatch::rejoin`](crate::LeaderLatch::rejoin) rejoins an
//!   election). Either way it reads everything again, reports only the differences from the
//!   kept snapshot, then `Initialized` again.
//!
//! Nodes this session may not read (`NoAuth`) are left out of the snapshot, and so are the
//! nodes below them. Events are buffered without bound until the stream is polled.
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
mod shared;
mod task;
mod tree;
mod view;

pub use children::{ChildData, PathCache, PathEvent};
pub use engine::Cache;
pub use model::NodeData;
pub use node::{NodeCache, NodeEvent};
pub use shared::WatchStrategy;
pub use tree::{TreeCache, TreeEvent};
pub use view::CacheView;

#[cfg(doc)]
use zk_core::Stat;
