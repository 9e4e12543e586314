//! Start, restart, shutdown, snapshots and inspection.

use std::time::Duration;

use zk_core::{CreateMode, SessionEvent};
use zk_testing::TestServer;

#[tokio::test]
async fn restart_keeps_data_and_sessions() {
    let server = TestServer::start().await.unwrap();
    let addr = server.addr();
    let c = zk_core::Client::connect(&server.connect_string()).await.unwrap();
    c.create("/keep", b"1", CreateMode::Persistent).await.unwrap();
    c.create("/mine", b"", CreateMode::Ephemeral).await.unwrap();
    let mut ev = c.session_events();
    assert_eq!(ev.next_event().await, Some(SessionEvent::Connected), "the current state first");
    let zxid = server.last_zxid();
    server.restart().await.unwrap();
    assert_eq!(server.addr(), addr, "same address after a bounce");
    assert_eq!(ev.next_event().await, Some(SessionEvent::Disconnected));
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), ev.next_event()).await.unwrap(),
        Some(SessionEvent::Reconnected)
    );
    assert_eq!(c.get_data("/keep").await.unwrap().0, b"1");
    assert!(c.exists("/mine").await.unwrap().is_some(), "the session and its ephemeral survived");
    assert!(server.last_zxid() >= zxid);
    c.close().await;
}

#[tokio::test(start_paused = true)]
async fn snapshot_restores_tree_and_zxid() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let c = server.client().await.unwrap();
    c.create("/a", b"x", CreateMode::Persistent).await.unwrap();
    c.create("/a/s-", b"", CreateMode::PersistentSequential).await.unwrap();
    let tree = server.tree();
    let snap = server.snapshot();
    let zxid = server.last_zxid();
    c.close().await;
    drop(server);
    let again = TestServer::builder().no_tcp().start_from(&snap).await.unwrap();
    let c = again.client().await.unwrap();
    assert!(again.last_zxid() > zxid, "the restored zxid continued (a new session consumed one)");
    assert_eq!(
        again.tree().into_iter().filter(|n| n.path.starts_with("/a")).collect::<Vec<_>>(),
        tree.into_iter().filter(|n| n.path.starts_with("/a")).collect::<Vec<_>>()
    );
    // The parent's sequence counter came back too.
    assert_eq!(c.create("/a/s-", b"", CreateMode::PersistentSequential).await.unwrap().0, "/a/s-0000000001");
    assert!(TestServer::builder().no_tcp().start_from(b"not a snapshot").await.is_err());
}

#[tokio::test(start_paused = true)]
async fn inspection_lists_sessions_watches_and_tree() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let c = server.client().await.unwrap();
    c.create("/w", b"", CreateMode::Persistent).await.unwrap();
    let (_, _w) = c.exists_and_watch("/w").await.unwrap();
    assert_eq!(server.watches(), vec![(c.session_id(), vec!["/w".to_string()])]);
    let s = server.sessions();
    assert_eq!((s.len(), s[0].id, s[0].connected), (1, c.session_id(), true));
    assert!(server.tree().iter().any(|n| n.path == "/w"));
    c.create("/w/a", b"", CreateMode::Persistent).await.unwrap();
    c.create("/w/a/deep", b"", CreateMode::Persistent).await.unwrap();
    c.create("/w/b", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(server.children("/w"), vec!["/w/a", "/w/b"], "direct children only, sorted");
    assert!(server.children("/").contains(&"/zookeeper".to_string()));
    assert!(server.children("/missing").is_empty());
    assert_eq!(server.node_count(), 8);
}

#[tokio::test(start_paused = true)]
async fn sessions_count_their_requests_but_not_pings() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let (a, b) = (server.client().await.unwrap(), server.client().await.unwrap());
    let requests = |c: &zk_core::Client| {
        server.sessions().into_iter().find(|s| s.id == c.session_id()).map(|s| s.requests)
    };
    let (a0, b0) = (requests(&a).unwrap(), requests(&b).unwrap());
    a.create("/r", b"", CreateMode::Persistent).await.unwrap();
    let (r1, r2) = (a.get_data("/r"), a.exists("/missing"));
    let (r1, r2) = tokio::join!(r1, r2);
    assert!(r1.is_ok() && r2.unwrap().is_none());
    // A failed request counts too.
    assert!(a.delete("/missing", None).await.is_err());
    // Idle for a minute: pings only.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(requests(&a), Some(a0 + 4));
    assert_eq!(requests(&b), Some(b0));
    a.close().await;
    assert_eq!(requests(&a), None, "closed sessions are gone");
}

#[tokio::test(start_paused = true)]
async fn in_process_start_is_cheap_and_dropping_stops_it() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let c = server.client().await.unwrap();
    let mut ev = c.session_events();
    assert_eq!(ev.next_event().await, Some(SessionEvent::Connected), "the current state first");
    drop(server);
    assert_eq!(ev.next_event().await, Some(SessionEvent::Disconnected));
}

/// zk-core removes a dropped watcher on the server before any request issued after the drop,
/// so a client that drops its watch and then changes the node is not notified of its change.
#[tokio::test(start_paused = true)]
async fn a_dropped_watcher_is_removed_before_the_next_request() {
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let c = server.client().await.unwrap();
    c.create("/w", b"", CreateMode::Persistent).await.unwrap();
    for round in 0..3 {
        let (_, watcher) = c.exists_and_watch("/w").await.unwrap();
        assert_eq!(server.watches().iter().filter(|(_, p)| p.contains(&"/w".to_owned())).count(), 1);
        let before = server.notifications_sent();
        drop(watcher);
        c.set_data("/w", format!("{round}").as_bytes(), None).await.unwrap();
        assert_eq!(server.notifications_sent(), before, "round {round}: no event for a dropped watch");
        assert!(server.watches().iter().all(|(_, p)| p.is_empty()), "round {round}: watch removed");
    }
    c.close().await;
}

/// A watch whose request's future is dropped before the reply (nobody can ever hold the
/// watcher) is removed on the server when the reply comes, persistent or one-shot.
#[tokio::test(start_paused = true)]
async fn a_watch_abandoned_in_flight_is_removed_on_the_server() {
    use zk_core::AddWatchMode;
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let c = server.client().await.unwrap();
    c.create("/w", b"", CreateMode::Persistent).await.unwrap();
    server.set_latency(Duration::from_millis(100));
    let persistent = c.add_watch("/w", AddWatchMode::PersistentRecursive);
    assert!(tokio::time::timeout(Duration::from_millis(10), persistent).await.is_err(), "still in flight");
    let one_shot = c.get_data_and_watch("/w");
    assert!(tokio::time::timeout(Duration::from_millis(10), one_shot).await.is_err(), "still in flight");
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.set_latency(Duration::ZERO);
    let sync = c.sync("/w");
    sync.await.unwrap();
    assert!(server.watches().iter().all(|(_, p)| p.is_empty()), "{:?}", server.watches());
    let before = server.notifications_sent();
    c.set_data("/w", b"x", None).await.unwrap();
    assert_eq!(server.notifications_sent(), before, "no event for the abandoned watches");
    c.close().await;
}

/// Read-only mode (protocol reference §2.4, §2.6), and zk-core's side of it: a client that
/// accepts a read-only server is ConnectedReadOnly there, reads work and writes fail with
/// NotReadOnly; a client that does not is refused; when the server is read-write again both
/// carry on in their sessions.
#[tokio::test(start_paused = true)]
async fn read_only_mode_serves_reads_and_refuses_writes() {
    use zk_core::{Error, Op, SessionState};
    let server = TestServer::builder().no_tcp().start().await.unwrap();
    let plain = server.client().await.unwrap();
    plain.create("/ro", b"v1", CreateMode::Persistent).await.unwrap();
    let ro_ok = server.client_builder().read_only(true).connect().await.unwrap();
    assert_eq!(ro_ok.state(), SessionState::Connected, "a read-write server says so");
    let mut ro_events = ro_ok.session_events();
    assert_eq!(ro_events.next_event().await, Some(SessionEvent::Connected), "the current state first");
    let mut plain_events = plain.session_events();
    assert_eq!(plain_events.next_event().await, Some(SessionEvent::Connected), "the current state first");

    server.set_read_only(true);
    assert!(server.is_read_only());
    assert_eq!(next(&mut ro_events).await, Some(SessionEvent::Disconnected));
    assert_eq!(next(&mut ro_events).await, Some(SessionEvent::ConnectedReadOnly));
    assert_eq!(ro_ok.state(), SessionState::ConnectedReadOnly);
    assert_eq!(ro_ok.get_data("/ro").await.unwrap().0, b"v1", "reads are served");
    assert!(ro_ok.get_children("/").await.unwrap().contains(&"ro".to_owned()));
    assert_eq!(ro_ok.create("/x", b"", CreateMode::Persistent).await.err(), Some(Error::NotReadOnly));
    assert_eq!(ro_ok.set_data("/ro", b"v2", None).await.err(), Some(Error::NotReadOnly));
    assert_eq!(ro_ok.delete("/ro", None).await.err(), Some(Error::NotReadOnly));
    assert_eq!(ro_ok.sync("/ro").await.err(), Some(Error::NotReadOnly));
    let multi = ro_ok.multi(&[Op::set_data("/ro", b"v3", None)]).await;
    assert!(matches!(multi, Err(Error::NotReadOnly) | Err(Error::MultiFailed { .. })), "{multi:?}");
    // A client that does not accept a read-only server is refused: no session.
    assert_eq!(next(&mut plain_events).await, Some(SessionEvent::Disconnected));
    // (Kept well inside the plain client's session timeout, or it would expire meanwhile.)
    let refused = server.client_builder().session_timeout(Duration::from_secs(4)).connect();
    let err = tokio::time::timeout(Duration::from_secs(15), refused).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ConnectFailed(_)), "{err:?}");
    assert!(!plain.state().is_connected(), "the plain client waits for a read-write server");

    server.set_read_only(false);
    assert_eq!(next(&mut ro_events).await, Some(SessionEvent::Disconnected));
    assert_eq!(next(&mut ro_events).await, Some(SessionEvent::Reconnected));
    assert_eq!(next(&mut plain_events).await, Some(SessionEvent::Reconnected));
    ro_ok.set_data("/ro", b"v2", None).await.unwrap();
    assert_eq!(plain.get_data("/ro").await.unwrap().0, b"v2");
    ro_ok.close().await;
    plain.close().await;
}

/// A read-only server says so to `isro` and `srvr`.
#[tokio::test]
async fn read_only_mode_shows_in_four_letter_words() {
    let server = TestServer::builder().read_only(true).start().await.unwrap();
    let addr = server.addr().unwrap();
    assert_eq!(zk_testing::four_letter_word(addr, "isro").await.unwrap(), "ro");
    assert!(zk_testing::four_letter_word(addr, "srvr").await.unwrap().contains("Mode: read-only"));
    server.set_read_only(false);
    assert_eq!(zk_testing::four_letter_word(addr, "isro").await.unwrap(), "rw");
    assert!(zk_testing::four_letter_word(addr, "srvr").await.unwrap().contains("Mode: standalone"));
}

/// The next session event, within 30 s.
async fn next(events: &mut zk_core::SessionEvents) -> Option<SessionEvent> {
    tokio::time::timeout(Duration::from_secs(30), events.next_event()).await.unwrap()
}

/// A server started from another's snapshot keeps its sessions, as a real server keeps them
/// across a restart: a TCP client whose server process was replaced resumes the same session,
/// ephemeral included (kazoo's `test_request_queuing_session_recovered` does this with the
/// binary, which snapshots on SIGTERM).
#[tokio::test]
async fn a_server_started_from_a_snapshot_keeps_the_sessions() {
    let first = TestServer::start().await.unwrap();
    let addr = first.addr().unwrap();
    let c = zk_core::Client::connect(&first.connect_string()).await.unwrap();
    let id = c.session_id();
    c.create("/mine", b"", CreateMode::Ephemeral).await.unwrap();
    let snapshot = first.snapshot();
    first.shutdown().await;
    let second = TestServer::builder().addr(addr).start_from(&snapshot).await.unwrap();
    assert_eq!(second.sessions().iter().map(|s| s.id).collect::<Vec<_>>(), [id]);
    let stat = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(stat) = c.exists("/mine").await {
                return stat;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the client is back within 20 s");
    assert_eq!(stat.map(|s| s.ephemeral_owner), Some(id));
    assert_eq!(c.session_id(), id, "the same session");
    assert!(second.sessions()[0].connected);
}
