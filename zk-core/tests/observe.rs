//! What the client tells observers: the session span carries the session id, and each
//! request ends with a trace event (op, path, xid, zxid, latency, outcome). The metrics are
//! in `observe_metrics.rs`, a binary of its own: tracing caches each callsite's interest
//! process-wide, and a test without a subscriber running next to this one could leave its
//! events unseen.

use zk_core::{CreateMode, Error};
use zk_testing::{Fields, TestServer, TraceCapture};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_session_span_names_the_session_and_each_request_is_traced() {
    // The default for this thread: the current-thread runtime runs the session task here.
    let (capture, _guard) = TraceCapture::install();
    let server = TestServer::builder().no_tcp().seed(1).start().await.unwrap();
    let zk = server.client().await.unwrap();
    zk.create("/observed", b"x", CreateMode::Persistent).await.unwrap();
    assert_eq!(zk.get_data("/missing").await, Err(Error::NoNode));

    let span = capture.span("zk_session").expect("the session span");
    assert_eq!(span.get("session_id"), Some(&format!("{:#x}", zk.session_id())), "{span:?}");
    assert_eq!(span.get("epoch").map(String::as_str), Some("0"));
    let requests: Vec<Fields> = capture.events("zk_core::request");
    let created = requests
        .iter()
        .find(|f| f.get("path").map(String::as_str) == Some("/observed"))
        .unwrap_or_else(|| panic!("the create's event: {requests:?}"));
    assert_eq!(created.get("op").map(String::as_str), Some("Create2"), "{created:?}");
    assert_eq!(created.get("outcome").map(String::as_str), Some("ok"), "{created:?}");
    for field in ["xid", "zxid", "latency_us"] {
        assert!(created.contains_key(field), "{field} in {created:?}");
    }
    let missing = requests.iter().find(|f| f.get("path").map(String::as_str) == Some("/missing"));
    assert_eq!(missing.and_then(|f| f.get("outcome")).map(String::as_str), Some("NONODE"), "{requests:?}");
}
