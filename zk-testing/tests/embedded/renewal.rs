//! A client that outlives its sessions: seeded expiries of one client on the embedded server,
//! each followed by a new session that serves requests, with nothing of the old sessions left
//! behind (sessions, watches, tasks).

use std::time::Duration;

use zk_core::{AddWatchMode, Client, CreateMode, Error, SessionEvent, SessionEvents};
use zk_testing::TestServer;

/// SplitMix64: the test's own seeded choices, independent of the server's RNG.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Reads session events until the next `NewSession` (bounded), checking that `Expired` came
/// before it; returns the new session's id.
async fn until_new_session(events: &mut SessionEvents, round: u32) -> i64 {
    let mut expired = false;
    for _ in 0..8 {
        match events.next_event().await {
            Some(SessionEvent::Expired) => expired = true,
            Some(SessionEvent::NewSession { session_id }) => {
                assert!(expired, "round {round}: NewSession without Expired");
                return session_id;
            }
            Some(SessionEvent::Disconnected | SessionEvent::TimeoutElapsed) => {}
            other => panic!("round {round}: unexpected session event {other:?}"),
        }
    }
    panic!("round {round}: no new session after 8 events");
}

/// 1,000 expiries, drawn between an instant server-side expiry and a partition longer than
/// the session timeout. After each: the old session's watchers ended with `SessionExpired`,
/// its ephemeral is gone, and a request on the new session succeeds. At the end the server
/// knows one session (the client's current one) with only its own watches, and no task
/// outlived its session.
#[tokio::test(start_paused = true)]
async fn a_client_survives_a_thousand_seeded_expiries() {
    const ROUNDS: u32 = 1_000;
    let mut seed = 0x5EED_u64;
    let server = TestServer::builder().no_tcp().seed(11).start().await.unwrap();
    let zk: Client =
        server.client_builder().session_timeout(Duration::from_secs(10)).connect().await.unwrap();
    let mut events = zk.session_events();
    assert_eq!(events.next_event().await, Some(SessionEvent::Connected));
    zk.create("/e", b"", CreateMode::Ephemeral).await.unwrap();
    // The client's counters see a watcher while there is one.
    let (_, probe) = zk.exists_and_watch("/e").await.unwrap();
    assert_eq!(zk.stats().await.unwrap().watchers, 1);
    drop(probe);
    let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    for round in 0..ROUNDS {
        let old = zk.session_id();
        let (_, oneshot) = zk.exists_and_watch("/e").await.unwrap();
        let mut persistent = zk.add_watch("/", AddWatchMode::PersistentRecursive).await.unwrap();
        if next(&mut seed) % 2 == 0 {
            assert!(server.expire_session(old), "round {round}");
        } else {
            assert!(server.partition_session(old, Duration::from_secs(15 + next(&mut seed) % 30)));
        }
        let new = until_new_session(&mut events, round).await;
        assert_ne!(new, old);
        assert_eq!(oneshot.await, Err(Error::SessionExpired), "round {round}: one-shot watcher");
        assert_eq!(persistent.next_event().await, Some(Err(Error::SessionExpired)), "round {round}");
        assert_eq!(persistent.next_event().await, None, "round {round}: the stream ends");
        let (path, _) = zk.create("/e", b"", CreateMode::Ephemeral).await.unwrap();
        assert_eq!(path, "/e", "round {round}: the old ephemeral is gone");
        assert_eq!(zk.status().epoch, u64::from(round) + 1);
    }
    let sessions: Vec<i64> = server.sessions().into_iter().map(|s| s.id).collect();
    assert_eq!(sessions, [zk.session_id()], "only the current session is left");
    assert!(
        server.watches().iter().all(|(session, _)| *session == zk.session_id()),
        "watches of old sessions: {:?}",
        server.watches()
    );
    let (_, _, w) = zk.get_data_and_watch("/e").await.unwrap();
    drop(w);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(tokio::runtime::Handle::current().metrics().num_alive_tasks(), tasks, "tasks leaked");
    // And the client's own view: no watcher, nothing in flight or queued, epoch 1,000.
    let stats = zk.stats().await.unwrap();
    assert_eq!((stats.watchers, stats.in_flight, stats.queued, stats.epoch), (0, 0, 0, u64::from(ROUNDS)));
}
