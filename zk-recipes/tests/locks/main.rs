//! Integration tests of the locks, against zk-testing's embedded server on a paused clock.

mod backend;
mod contention;
mod curator_mix;
mod faults;
mod interop;
mod mutex;
mod on_backends;
mod rw_lock;
mod semaphore;

use std::time::Duration;

use zk_core::Client;
use zk_testing::TestServer;

/// A fresh embedded server (in-process clients only).
pub(crate) async fn server(seed: u64) -> TestServer {
    TestServer::builder().no_tcp().seed(seed).start().await.expect("server starts")
}

/// A client with a 30 s session timeout.
pub(crate) async fn client(server: &TestServer) -> Client {
    server.client_builder().session_timeout(Duration::from_secs(30)).connect().await.expect("connects")
}

/// The lock nodes under `path` (direct children), as full paths.
pub(crate) fn lock_nodes(server: &TestServer, path: &str) -> Vec<String> {
    server.children(path)
}

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

/// Lets every in-flight request and background task finish (the paused clock jumps ahead).
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}
