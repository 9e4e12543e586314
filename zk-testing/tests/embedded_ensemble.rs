//! The embedded ensemble ([`TestEnsemble`]) on tokio's paused clock: stale reads and `sync`,
//! a member killed under its clients, the leader killed, the quorum lost for less and for more
//! than the session timeout, the zxid check, read-only mode, and one trace per seed.
//! (`tests/ensemble.rs` runs the same key scenarios on a real 3-member ZooKeeper.)

use std::time::Duration;

use tokio::time::{sleep, Instant};
use zk_core::{Client, CreateMode, Error, EventType, SessionEvent, SessionEvents};
use zk_testing::{MemberMode, TestEnsemble};

const SECOND: Duration = Duration::from_secs(1);

/// The next session event, within a minute of tokio's clock.
async fn next_event(events: &mut SessionEvents) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(60), events.next_event())
        .await
        .expect("a session event within a minute")
        .expect("the event stream ended")
}

/// Skips `Connected` at the start of a stream.
async fn connected(events: &mut SessionEvents) {
    assert_eq!(next_event(events).await, SessionEvent::Connected);
}

fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// A member a second behind answers from its own copy: a read misses a write committed
/// elsewhere until `sync` (or the second) has passed, while a client's own write is visible to
/// it as soon as it is answered, which is when its member has applied it.
#[tokio::test(start_paused = true)]
async fn a_lagging_member_reads_stale_until_sync() {
    let ens = TestEnsemble::builder().no_tcp().seed(1).lag(0, SECOND).start().await.unwrap();
    let writer = ens.client_on(&[2]).connect().await.unwrap();
    let reader = ens.client_on(&[0]).connect().await.unwrap();

    writer.create("/a", b"1", CreateMode::Persistent).await.unwrap();
    assert_eq!(reader.exists("/a").await.unwrap(), None, "member 0 has not applied the create yet");
    assert!(ens.node(2, "/a").is_some() && ens.node(0, "/a").is_none());
    reader.sync("/a").await.unwrap();
    assert_eq!(reader.get_data("/a").await.unwrap().0, b"1", "sync caught member 0 up");

    writer.set_data("/a", b"2", None).await.unwrap();
    assert_eq!(reader.get_data("/a").await.unwrap().0, b"1");
    sleep(SECOND).await;
    assert_eq!(reader.get_data("/a").await.unwrap().0, b"2", "applied a second after the commit");

    // The reader's own write is answered when member 0 applies it, a second later, and the
    // read pipelined behind it waits for it.
    let before = Instant::now();
    let (created, read) = tokio::join!(reader.create("/b", b"", CreateMode::Persistent), reader.exists("/b"));
    created.unwrap();
    assert!(read.unwrap().is_some(), "a read after one's own write sees it");
    assert_eq!(before.elapsed(), SECOND);
    assert_eq!(ens.last_zxid(0), ens.last_zxid(2));
}

/// The member a client is on dies: the client moves to another with the same session, its
/// ephemeral stays, and a watch set before fires for a change made after.
#[tokio::test(start_paused = true)]
async fn a_killed_member_s_clients_move_with_their_sessions() {
    let ens = TestEnsemble::builder().no_tcp().seed(2).start().await.unwrap();
    let client = ens.client_on(&[0, 1]).connect().await.unwrap();
    let mut events = client.session_events();
    connected(&mut events).await;
    let id = client.session_id();
    let first = client.connected_server().unwrap();
    let on = if first.starts_with("member-0") { 0 } else { 1 };
    client.create("/e", b"", CreateMode::Ephemeral).await.unwrap();
    let (_, _, watch) = client.get_data_and_watch("/e").await.unwrap();

    ens.kill(on);
    assert_eq!(ens.mode(on), None);
    assert_eq!(next_event(&mut events).await, SessionEvent::Disconnected);
    assert_eq!(next_event(&mut events).await, SessionEvent::Reconnected);
    assert_eq!(client.session_id(), id);
    assert_ne!(client.connected_server().unwrap(), first);

    let other = ens.client_on(&[2]).connect().await.unwrap();
    other.set_data("/e", b"changed", None).await.unwrap();
    let event = tokio::time::timeout(SECOND, watch).await.expect("the watch fired").unwrap();
    assert_eq!(event.event_type, EventType::NodeDataChanged);
    assert_eq!(client.exists("/e").await.unwrap().unwrap().ephemeral_owner, id);

    // Back, it catches up before serving.
    ens.restart(on);
    assert_eq!(ens.mode(on), Some(MemberMode::Follower));
    assert_eq!(ens.node(on, "/e").unwrap().data.as_deref(), Some(&b"changed"[..]));
}

/// The leader dies: every member stops until an election, writes wait for the new leader, and
/// the zxids it assigns carry the next epoch.
#[tokio::test(start_paused = true)]
async fn a_killed_leader_is_replaced_in_a_new_epoch() {
    let ens =
        TestEnsemble::builder().no_tcp().seed(3).election(Duration::from_millis(500)).start().await.unwrap();
    assert_eq!((ens.leader(), ens.epoch()), (Some(2), 1));
    let client = ens.client().await.unwrap();
    let id = client.session_id();
    let (_, before) = client.create("/before", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(epoch_of(before.czxid), 1);

    assert_eq!(ens.kill_leader(), Some(2));
    assert_eq!(ens.leader(), None);
    assert_eq!(ens.mode(0), Some(MemberMode::NotServing));
    // Once the client has seen its connection go (a request sent before that would end in
    // ConnectionLoss, as on a real ensemble), a write waits for the new leader.
    sleep(Duration::from_millis(1)).await;
    let started = Instant::now();
    let (_, after) = client.create("/after", b"", CreateMode::Persistent).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500), "the write waited for the election");
    assert_eq!((ens.leader(), ens.epoch()), (Some(1), 2));
    assert_eq!(epoch_of(after.czxid), 2);
    assert_eq!(client.session_id(), id);
    assert_eq!(ens.mode(0), Some(MemberMode::Follower));
}

/// Quorum lost for `down`, then back; returns whether the client kept its session and its
/// ephemeral, and the events it saw.
async fn quorum_loss(seed: u64, down: Duration) -> (bool, Vec<SessionEvent>) {
    let ens = TestEnsemble::builder().no_tcp().seed(seed).start().await.unwrap();
    let timeout = Duration::from_secs(4);
    let client = ens.client_builder().session_timeout(timeout).connect().await.unwrap();
    let mut events = client.session_events();
    connected(&mut events).await;
    let id = client.session_id();
    client.create("/eph", b"", CreateMode::Ephemeral).await.unwrap();

    ens.kill(0);
    ens.kill(1);
    assert_eq!(ens.leader(), None);
    assert_eq!(ens.mode(2), Some(MemberMode::NotServing));
    let write = client.create("/during", b"", CreateMode::Persistent).await;
    assert_eq!(write, Err(Error::ConnectionLoss), "no write without a quorum");
    sleep(down).await;
    ens.restart(0);
    ens.restart(1);
    ens.wait_for_leader(SECOND).await.unwrap();
    let stat = client.exists("/eph").await.unwrap();
    let kept = client.session_id() == id && stat.is_some_and(|s| s.ephemeral_owner == id);
    let mut seen = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::ZERO, events.next_event()).await {
        seen.push(ev);
    }
    (kept, seen)
}

/// The quorum is lost for a quarter of the session timeout: the session and its ephemeral
/// survive without the timeout being announced.
#[tokio::test(start_paused = true)]
async fn a_short_quorum_loss_keeps_the_session() {
    let (kept, events) = quorum_loss(4, SECOND).await;
    assert!(kept);
    assert!(!events.contains(&SessionEvent::TimeoutElapsed), "{events:?}");
    assert_eq!(events.last(), Some(&SessionEvent::Reconnected), "{events:?}");
}

/// The quorum is lost for three session timeouts: the client announces the elapsed timeout
/// but keeps the session, which the new leader renewed, and resumes it with its ephemeral.
#[tokio::test(start_paused = true)]
async fn a_quorum_loss_longer_than_the_timeout_keeps_the_session() {
    let (kept, events) = quorum_loss(5, Duration::from_secs(12)).await;
    assert!(kept, "{events:?}");
    assert!(events.contains(&SessionEvent::TimeoutElapsed), "{events:?}");
    assert!(!events.contains(&SessionEvent::Expired), "{events:?}");
    assert_eq!(events.last(), Some(&SessionEvent::Reconnected), "{events:?}");
}

/// A client that has seen a zxid a member has not applied yet is refused by that member and
/// gets in once the member caught up.
#[tokio::test(start_paused = true)]
async fn a_member_behind_the_client_refuses_it_until_it_catches_up() {
    let ens = TestEnsemble::builder().no_tcp().seed(6).start().await.unwrap();
    let client = ens.client_on(&[0, 1]).connect().await.unwrap();
    let mut events = client.session_events();
    connected(&mut events).await;
    let on = usize::from(client.connected_server().unwrap().starts_with("member-1"));
    let behind = 1 - on;
    ens.set_lag(behind, Duration::from_secs(5));
    client.create("/seen", b"", CreateMode::Persistent).await.unwrap();
    assert!(ens.last_zxid(behind) < ens.last_zxid(on));

    let killed_at = Instant::now();
    ens.kill(on);
    assert_eq!(next_event(&mut events).await, SessionEvent::Disconnected);
    assert_eq!(next_event(&mut events).await, SessionEvent::Reconnected);
    assert!(client.connected_server().unwrap().starts_with(&format!("member-{behind}")));
    assert!(ens.refused_handshakes(behind) > 0, "member {behind} refused the client while behind");
    // It got in once the lag had passed, not before.
    let waited = killed_at.elapsed();
    assert!(waited >= Duration::from_secs(4) && waited <= Duration::from_secs(6), "{waited:?}");
    assert!(client.exists("/seen").await.unwrap().is_some(), "it never reads older than it has seen");
}

/// With read-only mode, a member cut off from the others serves read-only clients from its own
/// copy and refuses writes; healed, it catches up.
#[tokio::test(start_paused = true)]
async fn a_partitioned_member_serves_read_only_clients() {
    let ens = TestEnsemble::builder().no_tcp().seed(7).read_only(true).start().await.unwrap();
    let writer = ens.client_on(&[2]).connect().await.unwrap();
    writer.create("/old", b"", CreateMode::Persistent).await.unwrap();
    ens.partition(0);
    assert_eq!(ens.mode(0), Some(MemberMode::ReadOnly));
    writer.create("/new", b"", CreateMode::Persistent).await.unwrap();

    let ro = ens.client_on(&[0]).read_only(true).connect().await.unwrap();
    assert!(ro.exists("/old").await.unwrap().is_some());
    assert!(ro.exists("/new").await.unwrap().is_none(), "cut off before /new");
    assert_eq!(ro.create("/x", b"", CreateMode::Persistent).await, Err(Error::NotReadOnly));
    // A client that does not accept a read-only server is not let in.
    let rw = ens.client_on(&[0]).connect_timeout(SECOND).connect().await;
    assert!(rw.is_err(), "{rw:?}");

    ens.heal(0);
    assert_eq!(ens.mode(0), Some(MemberMode::Follower));
    assert!(ens.node(0, "/new").is_some());
}

/// One seeded run: writes from clients on every member, a leader kill and a lagging member.
/// Returns what the clients saw (paths, zxids, sessions) and the members' trees.
async fn seeded_run(seed: u64) -> String {
    let ens = TestEnsemble::builder()
        .no_tcp()
        .seed(seed)
        .epoch_ms(1_700_000_000_000)
        .random_lag(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let clients: Vec<Client> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(ens.client_on(&[i, (i + 1) % 3]).connect().await.unwrap());
        }
        v
    };
    let mut trace = String::new();
    for round in 0..10 {
        if round == 5 {
            ens.kill_leader();
            // The clients see their connections cut before they send again, so no request
            // races the cut (tokio's select! draws its branch order from an unseeded RNG).
            sleep(Duration::from_millis(1)).await;
        }
        for (i, c) in clients.iter().enumerate() {
            let r = c.create("/n-", format!("{round}").as_bytes(), CreateMode::PersistentSequential).await;
            let r = r.map(|(path, stat)| (path, stat.czxid, stat.ctime));
            trace.push_str(&format!("{i}:{r:?}\n"));
        }
        sleep(Duration::from_millis(100)).await;
    }
    for c in &clients {
        c.sync("/").await.unwrap();
        trace.push_str(&format!("session {:x} on {:?}\n", c.session_id(), c.connected_server()));
    }
    for i in 0..3 {
        if ens.mode(i).is_some() {
            let nodes: Vec<(String, i64, i64)> =
                ens.tree(i).into_iter().map(|n| (n.path, n.stat.mzxid, n.stat.mtime)).collect();
            trace.push_str(&format!("member {i}: {nodes:?}\n"));
        }
    }
    trace
}

/// The same seed gives the same run, to the zxid; another seed another one.
#[tokio::test(start_paused = true)]
async fn a_seed_replays_the_same_trace() {
    let a = seeded_run(8).await;
    let b = seeded_run(8).await;
    let first_difference = a.lines().zip(b.lines()).find(|(x, y)| x != y);
    assert_eq!(first_difference, None);
    assert_eq!(a, b);
    assert_ne!(a, seeded_run(9).await);
}
