//! What the recipes log: a span per lock acquisition and per queue take with how long it
//! waited, a span per cache re-sync, and an event per leadership change. A test binary of its own: tracing caches each callsite's interest
//! process-wide, and tests without a subscriber running next to this one could leave its
//! events unseen.

use std::time::Duration;

use futures::StreamExt;
use zk_core::CreateMode;
use zk_recipes::cache::{PathCache, PathEvent};
use zk_recipes::queue::SimpleDistributedQueue;
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

#[tokio::test(start_paused = true)]
async fn queue_takes_and_cache_resyncs_are_traced() {
    let (capture, _guard) = TraceCapture::install();
    let server = server(32).await;
    let field = |span: &str, name: &str| capture.span(span).and_then(|f| f.get(name).cloned());

    let queue = SimpleDistributedQueue::new(client(&server).await, "/o/queue").unwrap();
    assert_eq!(queue.take_timeout(Duration::from_millis(500)).await.unwrap(), None);
    assert_eq!(field("zk_queue_take", "path").as_deref(), Some("/o/queue"));
    assert_eq!(field("zk_queue_take", "taken").as_deref(), Some("false"), "a take that gave up");
    let waited: u64 = field("zk_queue_take", "waited_ms").and_then(|w| w.parse().ok()).unwrap_or(0);
    assert!((500..1_000).contains(&waited), "{waited} ms");

    let producer = SimpleDistributedQueue::new(client(&server).await, "/o/queue").unwrap();
    let offer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        producer.offer(b"job").await.map(drop)
    });
    assert_eq!(queue.take().await.unwrap(), b"job");
    offer.await.unwrap().unwrap();
    assert_eq!(field("zk_queue_take", "taken").as_deref(), Some("true"), "a take that took");
    let waited: u64 = field("zk_queue_take", "waited_ms").and_then(|w| w.parse().ok()).unwrap_or(0);
    assert!((1_000..2_000).contains(&waited), "{waited} ms");

    let zk = client(&server).await;
    zk.create("/o/cache", b"", CreateMode::Persistent).await.unwrap();
    zk.create("/o/cache/a", b"1", CreateMode::Persistent).await.unwrap();
    let mut cache = PathCache::new(zk, "/o/cache").unwrap();
    assert_eq!(field("zk_cache_resync", "ok"), None, "nothing read yet");
    cache.start().unwrap();
    assert!(matches!(cache.next().await, Some(PathEvent::ChildAdded { .. })));
    assert_eq!(cache.next().await, Some(PathEvent::Initialized));
    assert_eq!(field("zk_cache_resync", "path").as_deref(), Some("/o/cache"));
    assert_eq!(field("zk_cache_resync", "ok").as_deref(), Some("true"));
    assert!(field("zk_cache_resync", "took_ms").is_some());
    cache.close().await.unwrap();
}
