//! Integration tests of the counters (`SharedCount`, `DistributedAtomicLong`): the embedded
//! server on a paused clock, the key scenarios on both backends, and interop with Curator.

mod atomic_long;
mod curator_mix;
mod on_backends;
mod shared_count;
#[path = "../support/mod.rs"]
mod support;

pub(crate) use support::{client, server, within};

use zk_testing::TestServer;

/// The raw data of `path` as the server holds it.
pub(crate) fn raw(server: &TestServer, path: &str) -> Option<Vec<u8>> {
    server.node(path).and_then(|n| n.data)
}
