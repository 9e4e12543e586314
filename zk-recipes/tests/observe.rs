//! What the recipes log: a span per lock acquisition with how long it waited, and an event
//! per leadership change. A test binary of its own: tracing caches each callsite's interest
//! process-wide, and tests without a subscriber running next to this one could leave its
//! events unseen.

use std::time::Duration;

use zk_recipes::{InterProcessMutex, LeaderLatch};
use zk_testing::TraceCapture;

#[path = "support/mod.rs"]
mod support;

use support::{client, eventually, server};

#[tokio::test(start_paused = true)]
async fn lock_waits_and_leadership_changes_are_traced() {
    let (capture, _guard) = TraceCapture::install();
    let server = server(31).await;
    let holder = InterProcessMutex::new(client(&server).await, "/o/lock").unwrap();
    let guard = holder.acquire().await.unwrap();
    let waiter = InterProcessMutex::new(client(&server).await, "/o/lock").unwrap();
    let waiting = tokio::spawn(async move { waiter.acquire().await.map(drop) });
    tokio::time::sleep(Duration::from_secs(2)).await;
    guard.release().await.unwrap();
    waiting.await.unwrap().unwrap();
    let span = capture.span("zk_lock_acquire").expect("the acquisitions' span");
    assert_eq!(span.get("path").map(String::as_str), Some("/o/lock"), "{span:?}");
    assert_eq!(span.get("acquired").map(String::as_str), Some("true"), "{span:?}");
    // The last acquisition recorded is the waiter's: it waited for the release.
    let waited: u64 = span.get("waited_ms").and_then(|w| w.parse().ok()).unwrap_or(0);
    assert!((2_000..3_000).contains(&waited), "{span:?}");

    let latch = LeaderLatch::new(client(&server).await, "/o/latch", "me").unwrap();
    latch.start().unwrap();
    latch.await_leadership().await.unwrap();
    latch.close().await.unwrap();
    eventually(5, "the latch's events", || async {
        let changes: Vec<String> = capture
            .events("zk_recipes::observe")
            .iter()
            .filter(|f| f.get("path").map(String::as_str) == Some("/o/latch"))
            .filter_map(|f| f.get("change").cloned())
            .collect();
        changes == ["elected", "not_leader"]
    })
    .await;
}
