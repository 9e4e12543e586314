//! Integration tests of the locks, against zk-testing's embedded server on a paused clock.

mod acl;
mod backend;
mod contention;
mod curator_mix;
mod faults;
mod interop;
mod mutex;
mod on_backends;
mod rw_lock;
mod semaphore;
mod semaphore_mutex;
mod shared;
#[path = "../support/mod.rs"]
mod support;

pub(crate) use support::{client, server, settle};

use zk_testing::TestServer;

/// The lock nodes under `path` owned by session `id`.
pub(crate) fn nodes_of(server: &TestServer, path: &str, id: i64) -> Vec<String> {
    let prefix = format!("{path}/");
    server
        .tree()
        .into_iter()
        .filter(|n| n.path.starts_with(&prefix) && n.stat.ephemeral_owner == id)
        .map(|n| n.path)
        .collect()
}
