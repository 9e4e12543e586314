//! Fault injection on command.

use std::time::Duration;

use zk_core::proto::{ErrorCode, OpCode};
use zk_core::{CreateMode, Error, SessionEvent, SessionState};
use zk_testing::{Chaos, RequestMatcher, TestServer};

#[tokio::test(start_paused = true)]
async fn fail_next_answers_the_error_without_applying() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let c = server.client().await.unwrap();
    server.fail_next(RequestMatcher::op(OpCode::Create2).path_prefix("/locks"), ErrorCode::NoAuth);
    assert_eq!(c.create("/other", b"", CreateMode::Persistent).await.map(|r| r.0), Ok("/other".into()));
    assert_eq!(c.create("/locks", b"", CreateMode::Persistent).await, Err(Error::NoAuth));
    assert_eq!(c.exists("/locks").await, Ok(None), "the failed create was not applied");
    assert!(c.create("/locks", b"", CreateMode::Persistent).await.is_ok(), "the fault fired once");
    server.fail_times(RequestMatcher::op(OpCode::GetData), ErrorCode::OperationTimeout, 2);
    assert_eq!(c.get_data("/locks").await, Err(Error::OperationTimeout));
    assert_eq!(c.get_data("/locks").await, Err(Error::OperationTimeout));
    assert!(c.get_data("/locks").await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn lost_reply_means_applied_but_connection_loss() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let c = server.client().await.unwrap();
    let mut events = c.session_events();
    assert_eq!(events.next_event().await, Some(SessionEvent::Connected), "the current state first");
    server.lose_next_reply(RequestMatcher::op(OpCode::Create2));
    assert_eq!(c.create("/n", b"v", CreateMode::Persistent).await, Err(Error::ConnectionLoss));
    assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
    assert_eq!(events.next_event().await, Some(SessionEvent::Reconnected));
    assert_eq!(c.get_data("/n").await.unwrap().0, b"v", "the write was applied");
    // A dropped request is not applied.
    server.drop_on_next(RequestMatcher::op(OpCode::SetData));
    assert_eq!(c.set_data("/n", b"w", None).await, Err(Error::ConnectionLoss));
    assert_eq!(c.get_data("/n").await.unwrap().0, b"v");
}

#[tokio::test(start_paused = true)]
async fn expire_and_drop_sessions_on_command() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let a = server.client().await.unwrap();
    let b = server.client().await.unwrap();
    a.create("/e", b"", CreateMode::Ephemeral).await.unwrap();
    assert_eq!(server.sessions().iter().find(|s| s.id == a.session_id()).unwrap().ephemerals, vec!["/e"]);
    let (_, w) = b.exists_and_watch("/e").await.unwrap();
    let mut ev = a.session_events();
    assert_eq!(ev.next_event().await, Some(SessionEvent::Connected), "the current state first");
    assert!(server.drop_connection(a.session_id()));
    assert_eq!(ev.next_event().await, Some(SessionEvent::Disconnected));
    assert_eq!(ev.next_event().await, Some(SessionEvent::Reconnected));
    assert!(b.exists("/e").await.unwrap().is_some(), "a dropped connection keeps the session");
    let sent = server.notifications_sent();
    let old = a.session_id();
    assert!(server.expire_session(old));
    assert_eq!(w.await.unwrap().event_type, zk_core::EventType::NodeDeleted);
    assert_eq!(server.notifications_sent(), sent + 1, "one watcher, one notification");
    assert_eq!(ev.next_event().await, Some(SessionEvent::Disconnected));
    assert_eq!(ev.next_event().await, Some(SessionEvent::Expired));
    // The client (renewing, the default) goes on with a new session; the old one is gone.
    assert!(matches!(ev.next_event().await, Some(SessionEvent::NewSession { .. })));
    assert_eq!(a.state(), SessionState::Connected);
    assert!(a.status().has_ended(0) && a.session_id() != old);
    assert!(!server.expire_session(old));
}

#[tokio::test(start_paused = true)]
async fn latency_delays_replies_on_the_virtual_clock() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let c = server.client().await.unwrap();
    server.set_latency(Duration::from_millis(250));
    let t = tokio::time::Instant::now();
    c.exists("/").await.unwrap();
    assert_eq!(t.elapsed(), Duration::from_millis(250));
    server.clear_faults();
    let t = tokio::time::Instant::now();
    c.exists("/").await.unwrap();
    assert_eq!(t.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn chaos_replays_with_the_seed() {
    async fn run(seed: u64) -> Vec<bool> {
        let server = TestServer::builder().no_tcp().seed(seed).start().await.unwrap();
        let c = server.client().await.unwrap();
        server.set_chaos(Some(Chaos { drop_connection: 0.2, ..Chaos::default() }));
        let mut outcomes = Vec::new();
        for i in 0..40 {
            outcomes.push(c.exists(&format!("/n{i}")).await.is_ok());
        }
        outcomes
    }
    let a = run(9).await;
    assert_eq!(a, run(9).await);
    assert!(a.iter().any(|ok| !ok) && a.iter().any(|ok| *ok), "{a:?}");
}

/// Overlapping freezes add up: a shorter pause (of one connection or of all) during a longer
/// partition does not let the partitioned client's frames through early.
#[tokio::test(start_paused = true)]
async fn a_shorter_pause_does_not_shorten_a_partition() {
    for pause_all in [false, true] {
        let server = TestServer::builder().no_tcp().seed(3).start().await.unwrap();
        // 40 s: the client's read timeout (2/3 of it) outlasts the 20 s partition.
        let zk = server.client_builder().session_timeout(Duration::from_secs(40)).connect().await.unwrap();
        let start = tokio::time::Instant::now();
        assert!(server.partition_session(zk.session_id(), Duration::from_secs(20)));
        if pause_all {
            server.pause_connections(Duration::from_secs(1));
        } else {
            assert!(server.pause_connection(zk.session_id(), Duration::from_secs(1)));
        }
        let create = tokio::spawn(zk.create("/x", b"", CreateMode::Persistent));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(server.node("/x").is_none(), "pause_all {pause_all}: the create went through a partition");
        create.await.unwrap().unwrap();
        assert!(start.elapsed() >= Duration::from_secs(20), "pause_all {pause_all}: {:?}", start.elapsed());
    }
}

/// A shorter partition of a partitioned session does not shorten the longer one, and a
/// longer one extends it, also for a reconnect already held at the partition.
#[tokio::test(start_paused = true)]
async fn partitions_of_one_session_end_at_the_latest_deadline() {
    // (first partition, second partition 2 s later, cut the connection before the second)
    for (first, second, cut_first) in [(20, 1, false), (5, 20, true)] {
        let server = TestServer::builder().no_tcp().seed(4).start().await.unwrap();
        let zk = server.client_builder().session_timeout(Duration::from_secs(40)).connect().await.unwrap();
        let mut events = zk.session_events();
        assert_eq!(events.next_event().await, Some(SessionEvent::Connected));
        let start = tokio::time::Instant::now();
        assert!(server.partition_session(zk.session_id(), Duration::from_secs(first)));
        // Cutting the frozen connection makes the client reconnect, and the reconnect is held.
        if cut_first {
            assert!(server.drop_connection(zk.session_id()));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(server.partition_session(zk.session_id(), Duration::from_secs(second)));
        if !cut_first {
            assert!(server.drop_connection(zk.session_id()));
        }
        assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
        assert_eq!(events.next_event().await, Some(SessionEvent::Reconnected));
        let healed = Duration::from_secs(first.max(second + 2));
        let case = (first, second);
        assert!(start.elapsed() >= healed, "{case:?}: reconnected after {:?}", start.elapsed());
    }
}

/// The realistic expiry: the client is cut off, and the server expires its session on its own
/// timer a session timeout after it last heard from it, no sooner; the client learns it then.
#[tokio::test(start_paused = true)]
async fn partition_until_expiry_expires_on_the_servers_timer() {
    let server = TestServer::builder().no_tcp().seed(5).start().await.unwrap();
    let timeout = Duration::from_secs(30);
    let zk = server.client_builder().session_timeout(timeout).connect().await.unwrap();
    let observer = server.client().await.unwrap();
    zk.create("/e", b"", CreateMode::Ephemeral).await.unwrap();
    let mut events = zk.session_events();
    assert_eq!(events.next_event().await, Some(SessionEvent::Connected));
    let old = zk.session_id();
    // Heard right now: the session is due a session timeout from here.
    zk.exists("/").await.unwrap();
    let cut = tokio::time::Instant::now();
    assert!(server.partition_until_expiry(old));
    tokio::time::sleep(timeout - Duration::from_millis(1)).await;
    assert!(observer.exists("/e").await.unwrap().is_some(), "expired before its timeout");
    assert!(server.sessions().iter().any(|s| s.id == old));
    let mut seen = Vec::new();
    let new = loop {
        match events.next_event().await {
            Some(SessionEvent::NewSession { session_id }) => break session_id,
            Some(SessionEvent::Expired) => {
                seen.push("Expired");
                let at = cut.elapsed();
                // The tick (2 s) rounds the deadline up.
                assert!(at >= timeout && at <= timeout + Duration::from_secs(2), "expired at {at:?}");
            }
            Some(other) => {
                seen.push(if other == SessionEvent::Disconnected { "Disconnected" } else { "other" })
            }
            None => panic!("events ended: {seen:?}"),
        }
        assert!(seen.len() < 8, "{seen:?}");
    };
    assert!(seen.contains(&"Expired"), "{seen:?}");
    assert_ne!(new, old);
    assert!(observer.exists("/e").await.unwrap().is_none());
    assert!(!server.partition_until_expiry(old), "no such session any more");
}

/// Timed latencies end on their own and overlap as the largest, over the fixed latency.
#[tokio::test(start_paused = true)]
async fn timed_latencies_end_on_their_own_and_take_the_largest() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let c = &server.client().await.unwrap();
    let timed = |ms| async move {
        let t = tokio::time::Instant::now();
        c.exists("/").await.unwrap();
        assert_eq!(t.elapsed(), Duration::from_millis(ms));
    };
    server.set_latency(Duration::from_millis(50));
    server.set_latency_for(Duration::from_millis(200), Duration::from_secs(10));
    server.set_latency_for(Duration::from_millis(100), Duration::from_secs(20));
    timed(200).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    timed(100).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    timed(50).await;
    server.set_latency_for(Duration::from_millis(300), Duration::from_secs(10));
    server.clear_faults();
    timed(0).await;
}
