//! What every zk-recipes test binary starts from: an embedded server on a paused clock, its
//! clients, and a pause that lets background work finish. Included by each binary's
//! `main.rs` (`#[path = "../support/mod.rs"] mod support;`).

// Each test binary uses a subset.
#![allow(dead_code)]

use std::time::Duration;

use zk_core::Client;
use zk_testing::TestServer;

/// A fresh embedded server (in-process clients only), seeded.
pub(crate) async fn server(seed: u64) -> TestServer {
    TestServer::builder().no_tcp().seed(seed).start().await.expect("server starts")
}

/// A client with a 30 s session timeout.
pub(crate) async fn client(server: &TestServer) -> Client {
    server.client_builder().session_timeout(Duration::from_secs(30)).connect().await.expect("connects")
}

/// Lets every in-flight request and background task finish (the paused clock jumps ahead).
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}
