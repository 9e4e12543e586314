//! zk-core's opt-in retry (`Client::retrying`) against the embedded server's faults.

use std::time::Duration;

use zk_core::proto::{ErrorCode, OpCode};
use zk_core::{CreateMode, Error, RetryPolicy};
use zk_testing::{RequestMatcher, TestServer};

/// A protected create whose reply is lost (the node was made, the client saw ConnectionLoss)
/// is found by its prefix on the retry: one node, never two.
#[tokio::test(start_paused = true)]
async fn a_protected_create_whose_reply_is_lost_is_found_not_made_twice() {
    let server = TestServer::builder().no_tcp().seed(21).start().await.unwrap();
    let zk = server.client().await.unwrap();
    zk.create("/jobs", b"", CreateMode::Persistent).await.unwrap();
    server.lose_next_reply(RequestMatcher::op(OpCode::Create2).path_prefix("/jobs/"));
    let path =
        zk.retrying().create_protected("/jobs/job-", b"x", CreateMode::PersistentSequential).await.unwrap();
    assert_eq!(server.children("/jobs").len(), 1, "{:?}", server.children("/jobs"));
    assert!(path.starts_with("/jobs/_c_") && path.contains("-job-0000000000"), "{path}");
    assert_eq!(zk.get_data(&path).await.unwrap().0, b"x");
}

/// Retryable errors are retried under the client's policy, and the last one is returned once
/// the policy gives up; other errors are not retried.
#[tokio::test(start_paused = true)]
async fn operations_are_retried_under_the_clients_policy() {
    let server = TestServer::builder().no_tcp().seed(22).start().await.unwrap();
    let policy = RetryPolicy::NTimes { n: 2, delay: Duration::from_millis(100) };
    let zk = server.client_builder().retry_policy(policy).connect().await.unwrap();
    zk.create("/n", b"v", CreateMode::Persistent).await.unwrap();
    let get = RequestMatcher::op(OpCode::GetData);
    server.fail_times(get.clone(), ErrorCode::ConnectionLoss, 2);
    let start = tokio::time::Instant::now();
    assert_eq!(zk.retrying().get_data("/n").await.unwrap().0, b"v", "two failures, two retries");
    assert_eq!(start.elapsed(), Duration::from_millis(200), "the policy's delays");
    server.fail_times(get, ErrorCode::ConnectionLoss, 3);
    assert_eq!(zk.retrying().get_data("/n").await, Err(Error::ConnectionLoss), "the policy gave up");
    server.fail_next(RequestMatcher::op(OpCode::SetData), ErrorCode::NoAuth);
    let before = server.sessions()[0].requests;
    assert_eq!(zk.retrying().set_data("/n", b"w", None).await, Err(Error::NoAuth));
    assert_eq!(server.sessions()[0].requests, before + 1, "not retried");
}
