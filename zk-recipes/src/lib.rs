//! zk-recipes: coordination recipes on [`zk_core`], with Apache Curator's znode layouts, so
//! a Rust process and a Java/Curator process can share one lock, one election or one queue on
//! the same paths.
//!
//! # Layout
//!
//! - `lock/`: the contention core every lock shares (`internals.rs`) and the recipes on it:
//!   `mutex.rs`, `rw_lock.rs`, `semaphore.rs`, with re-entry in `reentrant.rs`; Curator's
//!   node names and sort keys in [`layout`].
//! - `leader/`: [`LeaderLatch`] (`latch.rs`), [`Election`] (`election.rs`), [`Standby`] and
//!   [`run_while_leader`] (`standby.rs`).
//! - [`queue`]: `distributed.rs` with its consumers (`consumer.rs`, `delivery.rs`) and item
//!   format (`codec.rs`), `simple.rs`; what both queues do alike in `common.rs`, what a
//!   queue's handles share in `shared.rs`.
//! - [`cache`]: one generic [`cache::Cache`] (`engine.rs`) with its task (`task.rs`), its read
//!   handle (`view.rs`), the snapshot (`model.rs`) and what they share (`shared.rs`); the
//!   three kinds in `node.rs`, `children.rs`, `tree.rs`.
//! - [`counter`], [`barrier`], [`group`], [`persistent_node`]: one module per recipe.
//! - [`session`]: the one session layer ([`SessionTracker`]) every recipe follows its
//!   session through; `retry.rs`: the one retry layer (the client's retry policy) every
//!   recipe retries its steps under; `deadline.rs`: the one deadline convention;
//!   `lifecycle.rs`: the one life cycle of the handles with a background task;
//!   `protected.rs`: protected creates (`_c_<uuid>-`) and background cleanup; `error.rs`:
//!   [`Error`].
//!
//! `tests/structure` checks that no module uses one that uses it back.
//!
//! `§N.M` in comments refers to `docs/protocol.md`, section N.M (the ZooKeeper protocol notes).
//!
//! # The recipes
//!
//! | need | type | Curator's | layout under `path` |
//! |---|---|---|---|
//! | one holder at a time | [`InterProcessMutex`] | `InterProcessMutex` | `_c_<uuid>-lock-<seq>`, ephemeral |
//! | many readers or one writer | [`InterProcessReadWriteLock`] | `InterProcessReadWriteLock` | `_c_<uuid>-__READ__<seq>`, `_c_<uuid>-__WRIT__<seq>` |
//! | N holders | [`InterProcessSemaphore`] | `InterProcessSemaphoreV2` | `locks/`, `leases/_c_<uuid>-lease-<seq>` |
//! | one holder, never re-entered | [`InterProcessSemaphoreMutex`] | `InterProcessSemaphoreMutex` | a semaphore of 1 lease: `locks/`, `leases/_c_<uuid>-lease-<seq>` |
//! | a leader among participants | [`LeaderLatch`] | `LeaderLatch` | `_c_<uuid>-latch-<seq>`, the id as data |
//! | leadership in terms (campaign, resign) | [`Election`], [`Standby`], [`run_while_leader`] | `LeaderSelector` | `_c_<uuid>-lock-<seq>` |
//! | a work queue | [`queue::DistributedQueue`] | `DistributedQueue` | `queue-<seq>`, locks in `lock/` |
//! | ZooKeeper's classic queue | [`queue::SimpleDistributedQueue`] | `SimpleDistributedQueue` | `qn-<seq>` |
//! | a shared number | [`counter::SharedCount`] (4 bytes), [`counter::DistributedAtomicLong`] (8 bytes) | same names | the node's data, big-endian |
//! | follow one node, its children, a subtree | [`cache::NodeCache`], [`cache::PathCache`], [`cache::TreeCache`] | `NodeCache`, `PathChildrenCache`, `TreeCache`/`CuratorCache` | (reads only) |
//! | wait for a signal, or for N members | [`barrier::Barrier`], [`barrier::DoubleBarrier`] | `DistributedBarrier`, `DistributedDoubleBarrier` | the node; `<uuid>` members and `ready` |
//! | be listed while alive | [`group::GroupMember`] | `GroupMember` | `<id>`, ephemeral |
//! | keep a node in place | [`persistent_node::PersistentNode`] | `PersistentNode` | the node (often ephemeral) |
//!
//! Each recipe is built from a [`zk_core::Client`] and a path, and is cheap to create. The
//! lock, semaphore, latch and election nodes are *protected* (`_c_<uuid>-` prefix): after a
//! `ConnectionLoss` during a create, the node is found again, never duplicated or orphaned.
//! Waiters watch only their predecessor, so a release or a leadership change wakes one
//! participant, not all (no herd effect).
//!
//! A lock or semaphore handle is cheap to clone and may be shared by tasks (by `Clone` or
//! `Arc`): every acquisition is a participant of its own, so tasks sharing a handle exclude
//! each other as processes do. No lock is re-entrant through its handle; a guard is:
//! [`MutexGuard::reenter`], [`RwLockGuard::reenter`], and the write lock's holder takes the
//! read lock with [`RwLockGuard::read_while_writing`].
//!
//! # Sessions: Disconnected, Reconnected, Expired
//!
//! A recipe that holds something (a lock, a lease, leadership, a membership) follows its
//! client's session:
//!
//! - **Disconnected**: the session may be expiring unseen. A lock guard's [`LockStatus`] is
//!   `Suspended`; a leader under [`ConnectionPolicy::Standard`] (Curator's default) stops
//!   leading at once and leads again only once **Reconnected** shows its node still stands.
//! - **Expired**: what was held is gone (`Lost`, [`Error::LockLost`], [`Error::SessionEnded`]):
//!   recipes compare the session's epoch ([`zk_core::SessionStatus::epoch`]) with the one
//!   they started in, so they notice even when they never saw the `Expired` state. A zk-core
//!   client opens a new session by itself (the default): on it a [`LeaderLatch`] rejoins
//!   behind the others, a [`Standby`] campaigns again and a cache re-syncs, reporting only
//!   the differences. A client built
//!   with `OnExpiry::End` ends instead, and a recipe continues only with a new client:
//!   [`LeaderLatch::rejoin`] and the caches' `rebuild` take one. [`SessionTracker`] is the
//!   one layer that turns the client's events into these states for every recipe.
//!
//! Streams ([`LatchEvents`], [`LeaderStream`], the caches, [`counter::CountChanges`],
//! [`group::MembersStream`], the queue consumers) report these changes as items.
//!
//! # One shape for every handle
//!
//! - **Building.** Every recipe is `X::new(client, path, ...)`, which checks its arguments
//!   (a typed error, never a panic) and sends nothing; options are `with_*` methods on the
//!   value `new` returned (`with_id`, `with_policy`, `with_data`, `with_protection`, ...).
//! - **Handles that keep something alive** in a background task ([`LeaderLatch`], the caches,
//!   [`persistent_node::PersistentNode`], [`group::GroupMember`]) have one life cycle:
//!   `start()` starts the task (a second call does nothing); `close().await` stops it and
//!   deletes what it created (a second call does nothing), after which `start()` fails with
//!   [`Error::Closed`]; dropping a started handle does what `close` does, in the
//!   background. Subscribe to their events before `start()` to see every one.
//! - **Everything else** (locks, semaphores, [`Election`], queues, counters, barriers) keeps
//!   nothing between calls: there is nothing to start or close. What an operation takes
//!   (a guard, a lease, a term of leadership, a delivery) is a value that gives it back on
//!   `release()`/`resign()`/`ack()` or when dropped.
//! - **Bounding a wait.** An operation that waits, `x()`, waits as long as it takes; where a
//!   bound is commonly wanted it has `x_timeout(timeout)`, the same wait for at most
//!   `timeout` of tokio time, returning `Ok(None)` (or `Ok(false)` when `x` returns nothing)
//!   when the time ran out. Running out of time is never an error and leaves nothing behind;
//!   a zero timeout looks once; `Duration::MAX` is no deadline. Every wait is also
//!   cancellation safe, so `tokio::time::timeout` around any of them works the same way.
//! - **Streams.** Streams of values read from ZooKeeper ([`LeaderStream`],
//!   [`group::MembersStream`], [`counter::CountChanges`], the queue consumers) yield
//!   `Result`s: on a client that renews its session they carry on across an expiry, and on
//!   one that ends, their last item is an error for which [`Error::is_session_ended`] holds.
//!   Streams of a handle's own events ([`LatchEvents`], the caches) yield the recipe's event
//!   type, in which losing what the handle kept is a `Lost` event.
//!
//! `tests/shape` checks all of this for every recipe.
//!
//! # ACLs
//!
//! Every node a recipe creates (its directories, lock and latch nodes, queue items, counters)
//! gets the default ACL of the client handle it was given: the builder's
//! ([`ClientBuilder::default_acl`](zk_core::ClientBuilder::default_acl), for the whole
//! client) or the handle's own ([`Client::with_default_acl`](zk_core::Client::with_default_acl),
//! for one recipe). A recipe that meets a node it may not touch fails with
//! `Error::Zk(NoAuth)`, it does not wait.
//!
//! # Errors and cancellation
//!
//! Every recipe returns [`Error`]: a ZooKeeper error ([`Error::Zk`]) or a condition of the
//! recipe (lost lock, session ended, unreadable node data, invalid argument). Bad input is a
//! typed error, never a panic. Every operation documents its errors and whether it is
//! cancellation safe; acquisitions and takes are: dropping the future mid-way deletes the
//! node it created, or gives the item back, in the background. Ask an error what it means
//! with [`Error::is_session_ended`] and [`Error::is_retryable`] rather than matching its
//! variants.
//!
//! # A tour in code
//!
//! Every example here runs against zk-testing's embedded server on a paused clock; in a service,
//! give the recipes a [`zk_core::Client`] connected to your ensemble.
//!
//! A lock, and a waiter that gives up:
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
//!
//! A leader, and the successor taking over when its session ends:
//!
//! ```
//! use std::time::Duration;
//! use zk_recipes::LeaderLatch;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = zk_testing::TestServer::builder().no_tcp().seed(2).start().await?;
//! let (first, second) = (server.client().await?, server.client().await?);
//! let a = LeaderLatch::new(first.clone(), "/election/app", "a")?;
//! let b = LeaderLatch::new(second, "/election/app", "b")?;
//! a.start();
//! assert!(a.await_leadership_timeout(Duration::from_secs(5)).await?);
//! b.start();
//! assert!(!b.await_leadership_timeout(Duration::from_secs(1)).await?);
//!
//! server.expire_session(first.session_id());
//! assert!(b.await_leadership_timeout(Duration::from_secs(5)).await?);
//! assert!(!a.is_leader());
//! # Ok(())
//! # }
//! ```
//!
//! A work queue whose item comes back when its consumer gives up, and a cache of the config:
//!
//! ```
//! use futures::StreamExt;
//! use zk_core::CreateMode;
//! use zk_recipes::cache::{NodeCache, NodeEvent};
//! use zk_recipes::queue::DistributedQueue;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = zk_testing::TestServer::builder().no_tcp().seed(3).start().await?;
//! let zk = server.client().await?;
//!
//! let queue = DistributedQueue::new(zk.clone(), "/jobs")?;
//! queue.put(b"resize image 7").await?;
//! let mut work = queue.at_least_once();
//! let job = work.next().await.expect("a stream never ends by itself")?;
//! assert_eq!(job.items(), [b"resize image 7".to_vec()]);
//! job.release().await?; // not done: give it back
//! let job = work.next().await.expect("the same item again")?;
//! job.ack().await?; // done: now it is deleted
//!
//! let mut config = NodeCache::new(zk.clone(), "/app-config")?;
//! config.start();
//! config.initialized().await?;
//! zk.create("/app-config", b"workers=4", CreateMode::Persistent).await?;
//! loop {
//!     match config.next().await {
//!         Some(NodeEvent::Created(node)) => break assert_eq!(node.data, b"workers=4"),
//!         Some(_) => continue, // Initialized
//!         None => unreachable!("the cache runs until closed"),
//!     }
//! }
//! assert_eq!(config.current().map(|n| n.data), Some(b"workers=4".to_vec()));
//! # Ok(())
//! # }
//! ```
//!
//! The `examples/` directory of the repository has a runnable program for each kind
//! (`lock`, `ha_master`, `work_queue`, `config_watch`, `service_registry`, `counter`) and
//! `tour`, which shows them together.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod barrier;
pub mod cache;
pub mod counter;
mod deadline;
pub mod ensemble;
mod error;
pub mod group;
mod leader;
mod lifecycle;
mod lock;
mod observe;
pub mod persistent_node;
mod protected;
pub mod queue;
mod retry;
pub mod session;

pub use error::{Error, Result};
pub use leader::{
    run_while_leader, Election, LeaderStream, LeaderToken, Leadership, LostReason, Standby, StandbyReport,
    Term, TermEnd,
};
pub use leader::{ConnectionPolicy, LatchEvent, LatchEvents, LeaderLatch, LATCH_NAME};
pub use lock::{
    layout, InterProcessMutex, InterProcessReadWriteLock, InterProcessSemaphore, InterProcessSemaphoreMutex,
    Lease, LockStatus, MutexGuard, Participant, RwLockGuard, RwLockHandle, SemaphoreMutexGuard,
};
pub use session::{ConnectionState, SessionTracker};

/// Locks `m`, ignoring poisoning: the recipes keep their shared state consistent after every
/// statement, so a panic elsewhere leaves nothing half-done behind the lock.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The README's Rust code blocks, compiled as doc tests so the quick start cannot drift from
/// the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The crate's own README (its crates.io page), compiled as doc tests like the one above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;
