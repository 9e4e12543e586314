//! zk-testing: test support for ZooKeeper code.
//!
//! - [`RealZooKeeper`]: a real standalone ZooKeeper 3.8 server (Debian's `zookeeper` package,
//!   installed by `bash scripts/zookeeper.sh`) on a private loopback port, or one shared per
//!   test process with [`RealZooKeeper::shared`]. The server never outlives the test process.
//! - [`TcpProxy`]: a loopback TCP proxy in front of any server that can cut, stall (partition)
//!   and refuse connections on demand.
//! - [`four_letter_word`]: sends `ruok`, `srvr`, `mntr`, ... to any server address.
//!
//! # Examples
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use zk_testing::{RealZooKeeper, TcpProxy};
//!
//! let zk = RealZooKeeper::shared().await?;
//! let proxy = TcpProxy::start(zk.addr()).await?;
//! assert_eq!(zk_testing::four_letter_word(proxy.addr(), "ruok").await?, "imok");
//! # Ok::<(), std::io::Error>(()) }).unwrap();
//! ```
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod conn;
mod fault;
mod fourlw;
mod proxy;
mod real;
mod server;
mod sessions;
mod state;

pub use fault::{Chaos, RequestMatcher};
pub use proxy::TcpProxy;
pub use real::{four_letter_word, RealZooKeeper, RealZooKeeperBuilder};
pub use server::{NodeInfo, SessionInfo, TestServer, TestServerBuilder};
