//! Assertion helpers of the conformance suite; the backends and sandboxes are
//! [`zk_testing::Backend`] and [`zk_testing::Sandbox`], the tests come from
//! [`zk_testing::both_backends!`].

use std::time::Duration;

use zk_core::{Client, Error};
pub(crate) use zk_testing::{Backend, Sandbox};

/// A client with a short (4 s, the real server's minimum with its 2 s tick) session timeout,
/// connected to `connect` (a sandbox's chrooted connect string), for expiry tests.
#[allow(dead_code)]
pub(crate) async fn short_client(connect: &str) -> Client {
    Client::builder(connect).session_timeout(Duration::from_secs(4)).connect().await.expect("connect")
}

/// Waits (bounded) for `fut`, failing the test with `what` on timeout.
#[allow(dead_code)]
pub(crate) async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Asserts that `r` failed with exactly `expected`; `what` names the call.
pub(crate) fn expect_err<T: std::fmt::Debug>(what: &str, r: Result<T, Error>, expected: Error) {
    match r {
        Err(e) => assert_eq!(e, expected, "{what}"),
        Ok(v) => panic!("{what}: expected {expected:?}, got Ok({v:?})"),
    }
}

/// Waits (at most 5 s) for a one-shot watcher to fire.
pub(crate) async fn fired(w: zk_core::OneshotWatcher, what: &str) -> zk_core::WatchedEvent {
    within(5, what, w).await.unwrap_or_else(|e| panic!("{what}: watcher failed: {e}"))
}

/// Asserts an event's type and (client) path.
pub(crate) fn assert_event(ev: &zk_core::WatchedEvent, event_type: zk_core::EventType, path: &str) {
    assert_eq!((ev.event_type, ev.path.as_str()), (event_type, path), "unexpected event {ev:?}");
}
