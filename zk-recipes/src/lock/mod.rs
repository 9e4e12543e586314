//! Locks: one contention core ([`internals`]) and the recipes built on it.
//!
//! Every lock participant is an ephemeral-sequential, protected znode under the lock path,
//! laid out exactly as Apache Curator lays it out, so our processes and Curator's contend
//! correctly on the same path.
//!
//! # Sharing a handle, re-entrancy
//!
//! Every handle ([`InterProcessMutex`], [`InterProcessReadWriteLock`] and its halves,
//! [`InterProcessSemaphore`], [`InterProcessSemaphoreMutex`]) is `Clone`, its clones sharing
//! its state, and may be shared by tasks (by `Clone` or `Arc`). Every acquisition is a
//! participant of its own, with its own node: tasks sharing a handle exclude each other as
//! processes do, and a task that acquires again while it holds a guard waits behind it.
//! Curator's locks are re-entrant per thread, which has no async equivalent (a guard moves
//! between tasks, a task between threads); here re-entrancy is explicit and tied to the guard:
//! [`MutexGuard::reenter`] and [`RwLockGuard::reenter`] make another guard on the same node,
//! and the write lock's holder takes the read lock with [`RwLockGuard::read_while_writing`].
//! [`InterProcessSemaphoreMutex`] is not re-entrant at all, as in Curator.
//!
//! # Session events
//!
//! - **Disconnected**: a holder may no longer hold the lock (its session may be expiring
//!   without it knowing): its status becomes [`LockStatus::Suspended`]. Waiters keep waiting;
//!   their watches are re-registered on reconnect.
//! - **Reconnected**: the same session is back with its ephemerals, so holders are
//!   [`LockStatus::Held`] again.
//! - **Expired** (or the client closed): the lock nodes are gone. Holders are
//!   [`LockStatus::Lost`] and their operations fail with [`Error::LockLost`]; waiters fail
//!   with [`Error::SessionEnded`].

mod handle;
mod internals;
mod mutex;
mod rw_lock;
mod semaphore;
mod semaphore_mutex;

pub use mutex::{InterProcessMutex, MutexGuard};
pub use rw_lock::{InterProcessReadWriteLock, RwLockGuard, RwLockHandle};
pub use semaphore::{InterProcessSemaphore, Lease};
pub use semaphore_mutex::{InterProcessSemaphoreMutex, SemaphoreMutexGuard};

pub(crate) use internals::{participants, sorted_children, StandardDriver};

use zk_core::{Client, Op, OpResult, SessionState, SessionStatus};

#[cfg(doc)]
use crate::Error;

/// Where a held lock stands, from its session's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockStatus {
    /// Held: the session is connected and the lock node exists.
    Held,
    /// The connection is lost: the session (and the lock) may be expiring. Stop work that
    /// relies on exclusivity until it is `Held` again, or use fenced writes.
    Suspended,
    /// The session ended: the lock node is gone and someone else may hold the lock.
    Lost,
}

impl LockStatus {
    /// The status of a lock taken in session epoch `epoch`, when the client's session is at
    /// `status`: lost once that session ended (a later epoch, or a terminal state).
    pub fn of(status: SessionStatus, epoch: u64) -> LockStatus {
        if status.has_ended(epoch) {
            return LockStatus::Lost;
        }
        match status.state {
            SessionState::Connected | SessionState::ConnectedReadOnly => LockStatus::Held,
            _ => LockStatus::Suspended,
        }
    }
}

/// Resolves once the status of a lock held through `client` since session epoch `epoch` is
/// no longer `Held`, with that status.
pub(crate) async fn wait_not_held(client: &Client, epoch: u64) -> LockStatus {
    wait_status(client, epoch, |s| s != LockStatus::Held).await
}

/// Resolves once the session of epoch `epoch` of `client` has ended.
pub(crate) async fn wait_lost(client: &Client, epoch: u64) {
    wait_status(client, epoch, |s| s == LockStatus::Lost).await;
}

async fn wait_status(client: &Client, epoch: u64, pred: impl Fn(LockStatus) -> bool) -> LockStatus {
    let mut rx = client.state_watch();
    // The state publisher stops after a terminal state: no status means Lost.
    rx.wait_for(|s| pred(LockStatus::of(*s, epoch)))
        .await
        .map_or(LockStatus::Lost, |s| LockStatus::of(s, epoch))
}

/// Runs `ops` in one multi whose first op checks that `node` still exists (a fenced write),
/// returning the results of `ops`; see [`MutexGuard::fenced`] for the errors.
pub(crate) async fn fenced_multi(client: &Client, node: &str, ops: &[Op]) -> crate::Result<Vec<OpResult>> {
    let mut all = Vec::with_capacity(ops.len() + 1);
    all.push(Op::check(node, None));
    all.extend_from_slice(ops);
    match client.multi(&all).await {
        Ok(mut results) => {
            results.remove(0);
            Ok(results)
        }
        Err(zk_core::Error::MultiFailed { index: 0, .. }) => Err(crate::Error::LockLost),
        Err(zk_core::Error::MultiFailed { index, error }) => {
            Err(crate::Error::Zk(zk_core::Error::MultiFailed { index: index - 1, error }))
        }
        Err(e) => Err(crate::Error::while_holding(e)),
    }
}

/// One participant of a lock: its node and the id stored in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The participant's lock node (full path).
    pub node: String,
    /// The node's data: the participant id given with `with_id` (empty by default).
    pub id: Vec<u8>,
}

/// Layout helpers shared with Curator, exposed for interoperability checks.
pub mod layout {
    /// The lock name of [`InterProcessMutex`](super::InterProcessMutex) nodes (Curator's
    /// `InterProcessMutex` `LOCK_NAME`).
    pub const MUTEX_LOCK_NAME: &str = "lock-";

    /// The lock name of [`InterProcessReadWriteLock`](super::InterProcessReadWriteLock) read
    /// nodes (Curator's `InterProcessReadWriteLock.READ_LOCK_NAME`).
    pub const READ_LOCK_NAME: &str = "__READ__";

    /// The lock name of [`InterProcessReadWriteLock`](super::InterProcessReadWriteLock) write
    /// nodes (Curator's `InterProcessReadWriteLock.WRITE_LOCK_NAME`).
    pub const WRITE_LOCK_NAME: &str = "__WRIT__";

    /// The name of [`InterProcessSemaphore`](super::InterProcessSemaphore) lease nodes under
    /// `<path>/leases` (Curator's `InterProcessSemaphoreV2` `LEASE_BASE_NAME`).
    pub const LEASE_NAME: &str = "lease-";

    /// The key Curator's `InterProcessReadWriteLock` sorts its nodes by: the text after
    /// `__READ__`, then after `__WRIT__` (the sequence number for both kinds; Curator's
    /// `SortingLockInternalsDriver.fixForSorting` applied twice).
    pub fn rw_sort_key(node_name: &str) -> &str {
        sort_key(sort_key(node_name, READ_LOCK_NAME), WRITE_LOCK_NAME)
    }

    /// Sorts read/write lock node names into lock order as Curator does (stable, by
    /// [`rw_sort_key`]).
    pub fn sort_rw_nodes(node_names: &mut [String]) {
        node_names.sort_by(|a, b| rw_sort_key(a).cmp(rw_sort_key(b)));
    }

    /// The key Curator sorts lock nodes by: the text after the last occurrence of
    /// `lock_name`, or the whole name when it does not occur (`fixForSorting`).
    pub fn sort_key<'a>(node_name: &'a str, lock_name: &str) -> &'a str {
        super::internals::standard_sort_key(node_name, lock_name)
    }

    /// Sorts node names into lock order as Curator does (stable, by [`sort_key`]).
    pub fn sort_nodes(node_names: &mut [String], lock_name: &str) {
        node_names.sort_by(|a, b| sort_key(a, lock_name).cmp(sort_key(b, lock_name)));
    }

    /// True when a node name carries Curator's protected prefix `_c_<36-char uuid>-`.
    pub fn is_protected(node_name: &str) -> bool {
        crate::protected::is_protected(node_name)
    }

    /// The node name without its protected prefix (Curator's `ProtectedUtils.normalize`).
    pub fn strip_protected(node_name: &str) -> &str {
        crate::protected::normalize(node_name)
    }
}
