//! zk-core: a lean async ZooKeeper client speaking the real wire protocol.
//!
//! - [`Client`]: a cheap, cloneable handle to one session. Every ZooKeeper operation is a
//!   method that enqueues its request at once and returns a future, so requests are pipelined
//!   on one connection and go out in call order.
//! - Watches are values: a one-shot watch is a future ([`OneshotWatcher`]), a persistent watch
//!   a stream ([`PersistentWatcher`]); dropping one unregisters it.
//! - Session state is a value ([`Client::state`]) and a stream ([`Client::session_events`]):
//!   `Connected`, `Disconnected`, `Reconnected`, `Expired`, ...
//! - On connection loss the client tries the other hosts with jittered backoff, resumes the
//!   session and re-registers its watches; only the requests in flight fail, with
//!   [`Error::ConnectionLoss`].
//! - [`Error`] names every ZooKeeper error code; bad paths and oversized requests are
//!   rejected before anything is sent. [`retry`] retries what is retryable.
//! - [`proto`] is the wire codec (no I/O), shared with zk-testing's server.
//! - Time comes only from `tokio::time` and the transport is pluggable ([`Connector`]), so
//!   tests can run on a paused clock.
//!
//! # Examples
//!
//! ```
//! use zk_core::{Client, CreateMode, Error, EventType};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let zk_server = zk_testing::RealZooKeeper::start().await?;
//! # let connect_string = zk_server.connect_string();
//! let zk = Client::connect(&connect_string).await?;
//!
//! let (path, stat) = zk.create("/config", b"v1", CreateMode::Persistent).await?;
//! assert_eq!((path.as_str(), stat.version), ("/config", 0));
//!
//! // Watch the node, change it, see the event.
//! let (data, _, watcher) = zk.get_data_and_watch("/config").await?;
//! assert_eq!(data, b"v1");
//! zk.set_data("/config", b"v2", Some(0)).await?;
//! assert_eq!(watcher.await?.event_type, EventType::NodeDataChanged);
//!
//! // A stale version is refused.
//! assert_eq!(zk.set_data("/config", b"v3", Some(0)).await, Err(Error::BadVersion));
//!
//! // Pipelining: issue many requests, then await them.
//! let reads: Vec<_> = (0..100).map(|_| zk.get_data("/config")).collect();
//! for r in reads {
//!     assert_eq!(r.await?.0, b"v2");
//! }
//! zk.close().await;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod client;
mod error;
pub mod path;
pub mod proto;
mod retry;
mod session;
mod transport;

pub use client::{
    Client, ClientBuilder, CreateMode, CreateOptions, OneshotWatcher, Op, OpResult, PersistentWatcher,
    ReadOp, ReadResult, SessionEvents,
};
pub use error::{Error, Result};
pub use proto::{Acl, AddWatchMode, ClientInfo, EventType, Perms, Stat, WatcherType};
pub use retry::{retry, RetryPolicy};
pub use session::state::{SessionEvent, SessionState};
pub use session::watches::WatchedEvent;
pub use transport::{BoxReader, BoxWriter, Connector, TcpConnector};
