//! zk-core: a lean async ZooKeeper client speaking the real wire protocol.
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
