//! Integration tests of the leader recipes, against zk-testing's embedded server on a paused
//! clock (and the key scenarios on both backends).

mod curator_mix;
mod election;
mod latch;
// (the election tests' module is declared here)

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

/// Lets every in-flight request and background task finish (the paused clock jumps ahead).
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}
