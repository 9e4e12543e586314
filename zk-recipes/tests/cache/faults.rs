//! Faults: a cut connection with changes made meanwhile, session expiry and rebuild, and the
//! life cycle (drop and close remove the watches).

use std::time::Duration;

use futures::StreamExt;
use zk_core::{CreateMode, OnExpiry, SessionEvent};
use zk_recipes::cache::{PathCache, TreeCache, TreeEvent};
use zk_recipes::Error;

use crate::script::{check, Probe, Truth};
use crate::tree::{server_with, strategy};
use crate::{client, next, ready, settle, take, watched};

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Waits (bounded) for `ev` on `events`.
async fn wait_for(events: &mut zk_core::SessionEvents, ev: SessionEvent) {
    tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..100 {
            if events.next_event().await == Some(ev) {
                return;
            }
        }
        panic!("no {ev:?}");
    })
    .await
    .expect("session event in time");
}

/// The cache's connection is cut and held off for 10 s; another session changes the tree
/// meanwhile (a persistent watch does not replay that). After the reconnect the cache
/// reports exactly the differences and its snapshot equals the server's tree.
async fn reconnect(fallback: bool) {
    let server = server_with(31, fallback).await;
    let zk = client(&server).await;
    for (p, d) in [("/app", ""), ("/app/a", "1"), ("/app/b", "1"), ("/app/c", "1"), ("/app/f", "1")] {
        zk.create(p, d.as_bytes(), CreateMode::Persistent).await.unwrap();
    }
    let cz = client(&server).await;
    let mut cache = TreeCache::new(cz.clone(), "/app").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 6, TreeCache::show).await.last().map(String::as_str), Some("init"));
    let mut states = cz.session_events();
    assert!(server.partition_session(cz.session_id(), Duration::from_secs(10)));
    assert!(server.drop_connection(cz.session_id()));

    zk.set_data("/app/a", b"2", None).await.unwrap();
    zk.delete("/app/b", None).await.unwrap();
    zk.create("/app/d", b"4", CreateMode::Persistent).await.unwrap();
    zk.create("/app/e", b"gone", CreateMode::Persistent).await.unwrap();
    zk.delete("/app/e", None).await.unwrap();
    zk.create("/app/c/x", b"5", CreateMode::Persistent).await.unwrap();
    zk.set_data("/app/f", b"1", None).await.unwrap();
    settle().await;
    assert_eq!(ready(&mut cache, TreeCache::show), Vec::<String>::new(), "nothing seen while cut off");

    wait_for(&mut states, SessionEvent::Reconnected).await;
    settle().await;
    let got = sorted(ready(&mut cache, TreeCache::show));
    assert_eq!(got, ["+/app/c/x=5", "+/app/d=4", "-/app/b", "~/app/a=2", "~/app/f=1"]);
    check(&mut cache, Truth::Server(&server), "/app", 0, usize::MAX).await;
    assert_eq!(cache.strategy(), strategy(fallback));

    // Live changes are followed again.
    zk.set_data("/app/d", b"6", None).await.unwrap();
    assert_eq!(TreeCache::show(&next(&mut cache).await), "~/app/d=6");
}

#[tokio::test(start_paused = true)]
async fn reconnect_reports_exactly_the_differences() {
    reconnect(false).await;
}

#[tokio::test(start_paused = true)]
async fn reconnect_reports_exactly_the_differences_with_one_shot_watches() {
    reconnect(true).await;
}

/// A cache whose client comes back on a read-only server (its ensemble member lost quorum
/// meanwhile) re-syncs there too: it reports what changed while it was cut off.
#[tokio::test(start_paused = true)]
async fn reconnecting_to_a_read_only_server_resyncs() {
    let server = server_with(36, false).await;
    let zk = client(&server).await;
    for (p, d) in [("/app", ""), ("/app/a", "1"), ("/app/b", "1")] {
        zk.create(p, d.as_bytes(), CreateMode::Persistent).await.unwrap();
    }
    let cz = server.client_builder().read_only(true).connect().await.unwrap();
    let mut cache = TreeCache::new(cz.clone(), "/app").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 4, TreeCache::show).await.last().map(String::as_str), Some("init"));
    let mut states = cz.session_events();
    assert!(server.partition_session(cz.session_id(), Duration::from_secs(5)));
    assert!(server.drop_connection(cz.session_id()));
    zk.set_data("/app/a", b"2", None).await.unwrap();
    zk.delete("/app/b", None).await.unwrap();
    settle().await;
    server.set_read_only(true);
    wait_for(&mut states, SessionEvent::ConnectedReadOnly).await;
    settle().await;
    assert_eq!(sorted(ready(&mut cache, TreeCache::show)), ["-/app/b", "~/app/a=2"]);
    check(&mut cache, Truth::Server(&server), "/app", 0, usize::MAX).await;
}

/// A PathCache whose connection is merely dropped (it reconnects at once) converges too.
#[tokio::test(start_paused = true)]
async fn path_cache_converges_after_a_dropped_connection() {
    let server = server_with(32, false).await;
    let zk = client(&server).await;
    zk.create("/w", b"", CreateMode::Persistent).await.unwrap();
    zk.create("/w/a", b"1", CreateMode::Persistent).await.unwrap();
    let cz = client(&server).await;
    let mut cache = PathCache::new(cz.clone(), "/w").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, PathCache::show).await, ["+a=1", "init"]);
    let mut states = cz.session_events();
    assert!(server.drop_connection(cz.session_id()));
    zk.create("/w/b", b"2", CreateMode::Persistent).await.unwrap();
    zk.set_data("/w/a", b"3", None).await.unwrap();
    wait_for(&mut states, SessionEvent::Reconnected).await;
    zk.delete("/w/b", None).await.unwrap();
    settle().await;
    let got = ready(&mut cache, PathCache::show);
    // Each change is reported once, whether seen live or by the re-sync.
    assert!(got == ["+b=2", "~a=3", "-b"] || got == ["~a=3", "+b=2", "-b"] || got == ["~a=3"], "{got:?}");
    check(&mut cache, Truth::Server(&server), "/w", 1, 1).await;
}

/// The session of a client that ends with it ([`OnExpiry::End`]) expires: the cache reports
/// `Lost` and keeps its (stale) snapshot; rebuilt with a new client it reports only the
/// differences, then `Initialized`.
async fn expiry(fallback: bool) {
    let server = server_with(33, fallback).await;
    let zk = client(&server).await;
    for (p, d) in [("/app", ""), ("/app/a", "1"), ("/app/b", "1")] {
        zk.create(p, d.as_bytes(), CreateMode::Persistent).await.unwrap();
    }
    let cz = server.client_builder().on_expiry(OnExpiry::End).connect().await.unwrap();
    let mut cache = TreeCache::new(cz.clone(), "/app").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 4, TreeCache::show).await.last().map(String::as_str), Some("init"));

    assert!(server.expire_session(cz.session_id()));
    assert_eq!(next(&mut cache).await, TreeEvent::Lost(Error::SessionEnded(zk_core::Error::SessionExpired)));
    assert_eq!(cache.initialized().await, Err(Error::SessionEnded(zk_core::Error::SessionExpired)));
    zk.set_data("/app/a", b"2", None).await.unwrap();
    zk.delete("/app/b", None).await.unwrap();
    zk.create("/app/c", b"3", CreateMode::Persistent).await.unwrap();
    settle().await;
    assert_eq!(ready(&mut cache, TreeCache::show), Vec::<String>::new());
    assert!(cache.get("/app/b").is_some(), "the stale snapshot is kept");

    cache.rebuild(client(&server).await).await.unwrap();
    let mut got = take(&mut cache, 4, TreeCache::show).await;
    assert_eq!(got.pop().as_deref(), Some("init"));
    assert_eq!(sorted(got), ["+/app/c=3", "-/app/b", "~/app/a=2"]);
    cache.initialized().await.unwrap();
    check(&mut cache, Truth::Server(&server), "/app", 0, usize::MAX).await;
    zk.delete("/app/c", None).await.unwrap();
    assert_eq!(TreeCache::show(&next(&mut cache).await), "-/app/c");
}

#[tokio::test(start_paused = true)]
async fn session_expiry_is_reported_and_rebuild_reports_the_differences() {
    expiry(false).await;
}

#[tokio::test(start_paused = true)]
async fn session_expiry_and_rebuild_with_one_shot_watches() {
    expiry(true).await;
}

/// The cache carries on by itself after an expiry: Lost, then only the differences made while
/// it was away, then Initialized, on the new session its client opens.
async fn expiry_renewed(fallback: bool) {
    let server = server_with(35, fallback).await;
    let zk = client(&server).await;
    for (p, d) in [("/app", ""), ("/app/a", "1"), ("/app/b", "1")] {
        zk.create(p, d.as_bytes(), CreateMode::Persistent).await.unwrap();
    }
    let cz = client(&server).await;
    let mut cache = TreeCache::new(cz.clone(), "/app").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 4, TreeCache::show).await.last().map(String::as_str), Some("init"));

    // Changes while the cache's session is cut off and then expired by the server.
    let expired_id = cz.session_id();
    assert!(server.partition_session(expired_id, Duration::from_secs(60)));
    // The connection task applies the partition asynchronously: let it freeze the connection
    // before the changes, or their notifications may still get through.
    settle().await;
    zk.set_data("/app/a", b"2", None).await.unwrap();
    zk.delete("/app/b", None).await.unwrap();
    zk.create("/app/c", b"3", CreateMode::Persistent).await.unwrap();
    assert!(server.expire_session(cz.session_id()));
    // The cut-off client hears of the expiry when the partition ends.
    let lost = tokio::time::timeout(Duration::from_secs(90), cache.next()).await.unwrap();
    assert_eq!(lost, Some(TreeEvent::Lost(Error::SessionEnded(zk_core::Error::SessionExpired))));
    let mut got = take(&mut cache, 4, TreeCache::show).await;
    assert_eq!(got.pop().as_deref(), Some("init"));
    assert_eq!(sorted(got), ["+/app/c=3", "-/app/b", "~/app/a=2"]);
    cache.initialized().await.unwrap();
    check(&mut cache, Truth::Server(&server), "/app", 0, usize::MAX).await;
    assert_eq!(cache.strategy(), strategy(fallback));

    // It follows the server on its new session.
    let sessions: Vec<i64> = server.sessions().into_iter().map(|s| s.id).collect();
    assert!(!sessions.contains(&expired_id));
    zk.delete("/app/c", None).await.unwrap();
    assert_eq!(TreeCache::show(&next(&mut cache).await), "-/app/c");
    let before = server.sessions().len();
    cache.close().await.unwrap();
    settle().await;
    // The client is the user's: closing the cache leaves its session alone.
    assert_eq!(server.sessions().len(), before, "closing the cache leaves the client's session");
}

#[tokio::test(start_paused = true)]
async fn on_a_renewing_client_the_cache_rebuilds_on_the_new_session() {
    expiry_renewed(false).await;
}

#[tokio::test(start_paused = true)]
async fn on_a_renewing_client_one_shot_watches_rebuild_too() {
    expiry_renewed(true).await;
}

/// Dropping the cache stops its task and removes its watches; closing ends the stream.
async fn lifecycle(fallback: bool) {
    let server = server_with(34, fallback).await;
    let zk = client(&server).await;
    for p in ["/app", "/app/a", "/app/a/b"] {
        zk.create(p, b"", CreateMode::Persistent).await.unwrap();
    }
    let cz = client(&server).await;
    let cache = TreeCache::new(cz.clone(), "/app").unwrap();
    cache.start().unwrap();
    cache.initialized().await.unwrap();
    settle().await;
    let before = watched(&server, cz.session_id(), "/app");
    if fallback {
        assert_eq!(before, ["/app", "/app/a", "/app/a/b"]);
    } else {
        assert_eq!(before, ["/app"]);
    }
    drop(cache);
    settle().await;
    assert_eq!(watched(&server, cz.session_id(), "/app"), Vec::<String>::new(), "drop removes the watches");

    let mut cache = TreeCache::new(cz.clone(), "/app").unwrap();
    cache.start().unwrap();
    cache.initialized().await.unwrap();
    cache.close().await.unwrap();
    let drained: Vec<TreeEvent> = tokio::time::timeout(Duration::from_secs(5), (&mut cache).collect())
        .await
        .expect("the stream ends after close");
    assert_eq!(drained.last(), Some(&TreeEvent::Initialized));
    settle().await;
    assert_eq!(watched(&server, cz.session_id(), "/app"), Vec::<String>::new(), "close removes the watches");
    assert_eq!(cache.rebuild(cz.clone()).await, Err(Error::Closed));
    assert_eq!(cache.initialized().await, Err(Error::Closed));
    zk.create("/app/z", b"", CreateMode::Persistent).await.unwrap();
    settle().await;
    assert!(cache.get("/app/z").is_none(), "a closed cache follows nothing");
}

#[tokio::test(start_paused = true)]
async fn drop_and_close_remove_the_watch() {
    lifecycle(false).await;
}

#[tokio::test(start_paused = true)]
async fn drop_and_close_remove_the_one_shot_watches() {
    lifecycle(true).await;
}

/// A read of the cache fails (a server error, then a connection cut right at the read): the
/// re-sync that follows still reports the change exactly once.
#[tokio::test(start_paused = true)]
async fn failed_reads_are_repaired_by_a_resync() {
    use zk_core::proto::{ErrorCode, OpCode};
    use zk_testing::RequestMatcher;

    let server = server_with(35, false).await;
    let zk = client(&server).await;
    zk.create("/app", b"", CreateMode::Persistent).await.unwrap();
    zk.create("/app/a", b"1", CreateMode::Persistent).await.unwrap();
    let mut cache = TreeCache::new(client(&server).await, "/app").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 3, TreeCache::show).await.last().map(String::as_str), Some("init"));

    server.fail_next(RequestMatcher::op(OpCode::GetData).path_prefix("/app/a"), ErrorCode::SystemError);
    zk.set_data("/app/a", b"2", None).await.unwrap();
    assert_eq!(TreeCache::show(&next(&mut cache).await), "~/app/a=2");
    check(&mut cache, Truth::Server(&server), "/app", 0, usize::MAX).await;

    server.drop_on_next(RequestMatcher::op(OpCode::GetData).path_prefix("/app/b"));
    zk.create("/app/b", b"3", CreateMode::Persistent).await.unwrap();
    assert_eq!(TreeCache::show(&next(&mut cache).await), "+/app/b=3");
    check(&mut cache, Truth::Server(&server), "/app", 0, usize::MAX).await;
}
