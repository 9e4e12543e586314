//! Integration tests of `PersistentNode`, `GroupMember` and the barriers: the embedded server
//! on a paused clock, and the key scenarios on both backends.

mod barrier;
mod group;
mod on_backends;
mod persistent_node;
#[path = "../support/mod.rs"]
mod support;

pub(crate) use support::{client, server, settle};

use std::time::Duration;

use zk_recipes::persistent_node::SessionFactory;
use zk_testing::TestServer;

/// New sessions on `server`, for recipes that outlive an expiry.
pub(crate) fn factory(server: &TestServer) -> SessionFactory {
    SessionFactory::from_builder(server.client_builder().session_timeout(Duration::from_secs(30)))
}

/// The ephemeral owner of `path` on the server, if the node exists.
pub(crate) fn owner(server: &TestServer, path: &str) -> Option<i64> {
    server.tree().into_iter().find(|n| n.path == path).map(|n| n.stat.ephemeral_owner)
}

/// Waits (bounded) for `fut`, failing the test with `what` on timeout.
pub(crate) async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out ({secs} s): {what}"))
}

/// Polls `cond` every 20 ms for at most `secs` seconds; panics with `what` if it never holds.
pub(crate) async fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
