//! zk-recipes: coordination recipes built on [`zk_core`], with the same znode layouts as
//! Apache Curator, so our processes and Curator's cooperate on the same paths.
//!
//! - [`InterProcessMutex`]: a re-entrant distributed mutex, interoperating with Curator's
//!   `InterProcessMutex` (nodes `<path>/_c_<uuid>-lock-<seq>`, container parents). Acquiring
//!   returns a [`MutexGuard`] (RAII): the guard's path is a fencing token,
//!   [`MutexGuard::fenced`] runs writes only while the lock node exists, and dropping it
//!   releases the lock in the background.
//! - [`InterProcessReadWriteLock`]: many readers or one writer, interoperating with Curator's
//!   `InterProcessReadWriteLock` (nodes `<path>/_c_<uuid>-__READ__<seq>` and
//!   `<path>/_c_<uuid>-__WRIT__<seq>`): writers are not starved, and the writer may take the
//!   read lock (downgrade). Guards are [`RwLockGuard`]s.
//! - [`InterProcessSemaphore`]: N leases, interoperating with Curator's
//!   `InterProcessSemaphoreV2` (`<path>/locks` mutex, `<path>/leases/_c_<uuid>-lease-<seq>`);
//!   the lease count is fixed or read from a Curator `SharedCount` node. Each lease is a
//!   [`Lease`] guard.
//! - All locks share one contention core: ephemeral-sequential protected nodes, sorted as
//!   Curator sorts them, each waiter watching only its predecessor (no herd effect).
//! - Creates are protected (`_c_<uuid>-` prefix): after a `ConnectionLoss` the node is found
//!   again, never duplicated or orphaned. Every acquisition is cancellation safe: dropping
//!   its future deletes its node in the background.
//! - Timeouts use `tokio::time`, so tests run on a paused clock.
//!
//! # Session events
//!
//! On **Disconnected** a holder's [`LockStatus`] becomes `Suspended` (the session may be
//! expiring unseen; stop relying on exclusivity or use fenced writes); on **Reconnected** it is
//! `Held` again (same session, same node); on **Expired** it is `Lost`, the guard's operations
//! fail with [`Error::LockLost`], and a waiter fails with [`Error::SessionEnded`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use zk_recipes::{InterProcessMutex, LockStatus};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
//! let a = InterProcessMutex::new(server.client().await?, "/locks/job")?;
//! let b = InterProcessMutex::new(server.client().await?, "/locks/job")?;
//!
//! let guard = a.acquire().await?;
//! assert_eq!(guard.status(), LockStatus::Held);
//! assert!(b.try_acquire().await?.is_none());
//! assert!(b.acquire_timeout(Duration::from_secs(1)).await?.is_none());
//! guard.release().await?;
//! assert!(b.try_acquire().await?.is_some());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod barrier;
pub mod cache;
pub mod counter;
mod error;
pub mod group;
mod leader;
mod lock;
pub mod persistent_node;
mod protected;
pub mod queue;

pub use error::{Error, Result};
pub use leader::{
    run_while_leader, Election, LeaderStream, LeaderToken, Leadership, LostReason, Standby, StandbyReport,
    Term, TermEnd,
};
pub use leader::{ConnectionPolicy, LatchEvent, LatchEvents, LeaderLatch, LATCH_NAME};
pub use lock::{
    layout, InterProcessMutex, InterProcessReadWriteLock, InterProcessSemaphore, Lease, LockStatus,
    MutexGuard, Participant, RwLockGuard, RwLockHandle,
};
