//! Integration tests of the counters (`SharedCount`, `DistributedAtomicLong`): the embedded
//! server on a paused clock, the key scenarios on both backends, and interop with Curator.

mod atomic_long;
mod curator_mix;
mod on_backends;
mod shared_count;
#[path = "../support/mod.rs"]
mod support;

pub(crate) use support::{client, server};

use std::time::Duration;

use zk_testing::TestServer;

/// The raw data of `path` as the server holds it.
pub(crate) fn raw(server: &TestServer, path: &str) -> Option<Vec<u8>> {
    server.tree().into_iter().find(|n| n.path == path).and_then(|n| n.data)
}

/// Waits (bounded) for `fut`, failing the test with `what` on timeout.
pub(crate) async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out ({secs} s): {what}"))
}
