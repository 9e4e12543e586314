//! LeaderLatch: one leader, succession by sequence, one notification per change, session
//! faults, Curator's layout, and failover on both backends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use zk_recipes::{ConnectionPolicy, LatchEvent, LeaderLatch, LATCH_NAME};
use zk_testing::{Backend, TestServer};

use crate::{client, eventually, server, settle, within};

/// Every event any latch observed, in observation order, with its virtual time.
type Log = Arc<Mutex<Vec<(String, LatchEvent, Instant)>>>;

/// Starts `n` latches on `n` sessions at `path`, one after another (so their sequence order
/// is their index), each logging its events into the returned log.
async fn join_all(server: &TestServer, path: &str, n: usize) -> (Vec<LeaderLatch>, Log, Vec<i64>) {
    let log: Log = Arc::default();
    let (mut latches, mut sessions) = (Vec::new(), Vec::new());
    for i in 0..n {
        let zk = client(server).await;
        sessions.push(zk.session_id());
        let latch = LeaderLatch::new(zk, path, format!("p{i}")).unwrap();
        record(&latch, format!("p{i}"), &log);
        latch.start().unwrap();
        settle().await;
        latches.push(latch);
    }
    (latches, log, sessions)
}

fn record(latch: &LeaderLatch, id: String, log: &Log) {
    let (mut events, log) = (latch.events(), log.clone());
    tokio::spawn(async move {
        while let Some(e) = events.next().await {
            log.lock().unwrap().push((id.clone(), e, Instant::now()));
        }
    });
}

fn leaders(latches: &[LeaderLatch]) -> Vec<usize> {
    (0..latches.len()).filter(|&i| latches[i].is_leader()).collect()
}

fn elected_order(log: &Log) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(_, e, _)| *e == LatchEvent::Elected)
        .map(|(id, _, _)| id.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn five_participants_one_leader_and_successors_by_sequence() {
    let server = server(51).await;
    let (latches, log, _) = join_all(&server, "/election/five", 5).await;
    for k in 0..5 {
        assert_eq!(leaders(&latches[k..]), vec![0], "exactly one leader, the lowest sequence");
        let leader = latches[k].leader().await.unwrap().unwrap();
        assert_eq!(leader.id, format!("p{k}").into_bytes());
        assert_eq!(latches[k].participants().await.unwrap().len(), 5 - k);
        latches[k].close().await.unwrap();
        settle().await;
    }
    let expected: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
    assert_eq!(elected_order(&log), expected, "one global leader order");
    // Each participant saw Elected then NotLeader (on close), and nothing else.
    for i in 0..5 {
        let own: Vec<LatchEvent> =
            log.lock().unwrap().iter().filter(|(id, _, _)| *id == format!("p{i}")).map(|e| e.1).collect();
        assert_eq!(own, vec![LatchEvent::Elected, LatchEvent::NotLeader], "p{i}");
    }
    assert!(server.tree().iter().all(|n| !n.path.starts_with("/election/five/")), "no node left");
}

#[tokio::test(start_paused = true)]
async fn each_leadership_change_fires_one_notification() {
    let server = server(52).await;
    let (latches, _log, _) = join_all(&server, "/election/hundred", 100).await;
    assert_eq!(leaders(&latches), vec![0]);
    for k in 0..3 {
        let before = server.notifications_sent();
        latches[k].close().await.unwrap();
        settle().await;
        assert_eq!(server.notifications_sent() - before, 1, "change {k}: one watch event, not a herd");
        assert_eq!(leaders(&latches), vec![k + 1]);
    }
}

#[tokio::test(start_paused = true)]
async fn nodes_use_curators_latch_layout() {
    let server = server(53).await;
    let (latches, _log, sessions) = join_all(&server, "/election/layout", 3).await;
    for (i, latch) in latches.iter().enumerate() {
        let node = latch.node().unwrap();
        let name = node.rsplit('/').next().unwrap();
        assert!(zk_recipes::layout::is_protected(name), "{name}");
        let rest = zk_recipes::layout::strip_protected(name);
        assert!(rest.starts_with(LATCH_NAME) && rest[LATCH_NAME.len()..].len() == 10, "{name}");
        let info = server.node(&node).unwrap();
        assert_eq!(info.data, Some(format!("p{i}").into_bytes()));
        assert_eq!(info.stat.ephemeral_owner, sessions[i]);
    }
    // A fixed list as Curator would see it: order is by sequence, not by uuid.
    let mut names = vec![
        "_c_ffffffff-0000-4000-8000-000000000000-latch-0000000000".to_owned(),
        "_c_00000000-0000-4000-8000-000000000000-latch-0000000002".to_owned(),
        "_c_77777777-0000-4000-8000-000000000000-latch-0000000001".to_owned(),
    ];
    zk_recipes::layout::sort_nodes(&mut names, LATCH_NAME);
    let seqs: Vec<_> = names.iter().map(|n| &n[n.len() - 1..]).collect();
    assert_eq!(seqs, ["0", "1", "2"]);
}

/// The leader's session ends (by `fault`); the old leader must see Suspended then Lost, and
/// its Lost must come no later than any other participant's Elected.
async fn old_leader_lost_before_successor_elected(seed: u64, fault: impl FnOnce(&TestServer, i64)) {
    let server = server(seed).await;
    let (latches, log, sessions) = join_all(&server, "/election/fault", 3).await;
    assert_eq!(leaders(&latches), vec![0]);
    log.lock().unwrap().clear();
    fault(&server, sessions[0]);
    tokio::time::sleep(Duration::from_secs(90)).await;
    assert_eq!(leaders(&latches), vec![1], "the successor leads");
    let log = log.lock().unwrap().clone();
    let old: Vec<LatchEvent> = log.iter().filter(|e| e.0 == "p0").map(|e| e.1).collect();
    assert_eq!(old.first(), Some(&LatchEvent::Suspended), "{old:?}");
    assert_eq!(old.iter().filter(|e| **e == LatchEvent::Lost).count(), 1, "{old:?}");
    // The log is in the order the events were seen (the paused clock may give them one instant).
    let lost_at = log.iter().position(|e| e.0 == "p0" && e.1 == LatchEvent::Lost).unwrap();
    let elected_at = log.iter().position(|e| e.1 == LatchEvent::Elected).unwrap();
    assert_eq!(log[elected_at].0, "p1");
    assert!(lost_at < elected_at, "old leader's Lost before the new Elected: {log:?}");
}

#[tokio::test(start_paused = true)]
async fn partitioned_leader_is_suspended_then_lost_before_the_successor() {
    old_leader_lost_before_successor_elected(54, |s, id| {
        assert!(s.partition_session(id, Duration::from_secs(60)));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn expired_leader_is_suspended_then_lost() {
    // The server expires the session of a connected leader: the leader sees its connection
    // close (Suspended) and the expiry on its reconnect (Lost), before the successor's Elected.
    for seed in [55, 155, 255, 355, 455] {
        old_leader_lost_before_successor_elected(seed, |s, id| {
            assert!(s.expire_session(id));
        })
        .await;
    }
}

/// The leader's connection drops for 2 s (reconnecting with the same session, well within the
/// 30 s timeout); returns the leader's events meanwhile and whether it leads afterwards.
async fn leader_events_on_short_disconnect(seed: u64, policy: ConnectionPolicy) -> (Vec<LatchEvent>, bool) {
    let server = server(seed).await;
    let log: Log = Arc::default();
    let a_client = client(&server).await;
    let a = LeaderLatch::new(a_client.clone(), "/election/blip", "a").unwrap().with_policy(policy);
    record(&a, "a".into(), &log);
    a.start().unwrap();
    assert!(a.await_leadership_timeout(Duration::from_secs(5)).await.unwrap());
    let b = LeaderLatch::new(client(&server).await, "/election/blip", "b").unwrap().with_policy(policy);
    b.start().unwrap();
    settle().await;
    log.lock().unwrap().clear();
    assert!(server.partition_session(a_client.session_id(), Duration::from_secs(2)));
    assert!(server.drop_connection(a_client.session_id()));
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(a_client.state().is_connected(), "same session reconnected");
    assert!(!b.is_leader(), "no successor");
    let events = log.lock().unwrap().iter().map(|e| e.1).collect();
    (events, a.is_leader())
}

#[tokio::test(start_paused = true)]
async fn session_based_latch_leader_survives_a_short_disconnect() {
    let (events, leads) = leader_events_on_short_disconnect(56, ConnectionPolicy::SessionBased).await;
    assert_eq!(events, vec![], "no event on a disconnect");
    assert!(leads);
}

#[tokio::test(start_paused = true)]
async fn standard_latch_leader_is_suspended_by_a_short_disconnect() {
    let (events, leads) = leader_events_on_short_disconnect(57, ConnectionPolicy::Standard).await;
    assert_eq!(events, vec![LatchEvent::Suspended, LatchEvent::NotLeader, LatchEvent::Elected], "{events:?}");
    assert!(leads, "re-elected once the reconnected session confirms its node");
}

zk_testing::both_backends!(worker_threads = 4; five_participants_failover, expired_leader_is_lost_then_rejoins_behind);

/// Five participants on five sessions over TCP in real time: one leader, and each close hands
/// leadership to exactly the next participant by sequence.
async fn five_participants_failover(b: &Backend) {
    let root = b.create_root("leader-latch").await;
    let path = format!("{root}/election");
    let log: Log = Arc::default();
    let mut latches = Vec::new();
    for i in 0..5 {
        let zk = b.client().await;
        let latch = LeaderLatch::new(zk, &path, format!("p{i}")).unwrap();
        record(&latch, format!("p{i}"), &log);
        latch.start().unwrap();
        // Wait until its node exists, so sequence order is index order.
        let joined = format!("{}: p{i} joined", b.name());
        eventually(5, &joined, || async { latch.node().is_some() }).await;
        latches.push(latch);
    }
    for k in 0..5 {
        assert!(
            latches[k].await_leadership_timeout(Duration::from_secs(10)).await.unwrap(),
            "{}: p{k} leads",
            b.name()
        );
        assert_eq!(leaders(&latches[k..]), vec![0], "{}: exactly one leader", b.name());
        // Each latch's events are logged by its own task: let p{k}'s Elected reach the log
        // before p{k+1} can be elected, so the log's order is the order of the elections.
        let elected = format!("p{k}");
        eventually(10, "the election logged", || async { elected_order(&log).contains(&elected) }).await;
        latches[k].close().await.unwrap();
    }
    let expected: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
    assert_eq!(elected_order(&log), expected, "{}: leader order", b.name());
}

/// The leader's session is expired on the server (through a proxy, so this works on a real
/// ZooKeeper too): the old leader is Suspended, then Lost, the next one leads, and the old
/// leader rejoins behind the others on its client's new session.
async fn expired_leader_is_lost_then_rejoins_behind(b: &Backend) {
    let root = b.create_root("leader-latch-expiry").await;
    let path = format!("{root}/election");
    let connect = b.connect_string();
    let proxy = b.proxy().await;
    let log: Log = Arc::default();
    let (mut latches, mut p0_client) = (Vec::new(), None);
    for i in 0..3 {
        // p0, the first leader, talks through the proxy.
        let cs = if i == 0 { proxy.connect_string() } else { connect.clone() };
        let zk = within(10, "connect in time", zk_core::Client::connect(&cs)).await.expect("connect");
        if i == 0 {
            p0_client = Some(zk.clone());
        }
        let latch = LeaderLatch::new(zk, &path, format!("p{i}")).unwrap();
        record(&latch, format!("p{i}"), &log);
        latch.start().unwrap();
        eventually(5, &format!("p{i} joined"), || async { latch.node().is_some() }).await;
        latches.push(latch);
    }
    assert!(latches[0].await_leadership_timeout(Duration::from_secs(10)).await.unwrap(), "{}", b.name());
    let old = latches[0].participants().await.unwrap();
    assert_eq!(old.len(), 3, "{}", b.name());

    let p0_client = p0_client.expect("p0 joined");
    let p0_events =
        || -> Vec<LatchEvent> { log.lock().unwrap().iter().filter(|e| e.0 == "p0").map(|e| e.1).collect() };
    // The expiry reaches p0 one reconnect (~10 ms) after its disconnect: its latch may never
    // see the disconnect, and must report Suspended all the same.
    tokio::time::timeout(Duration::from_secs(10), proxy.expire_session(&p0_client))
        .await
        .expect("expire in time")
        .expect("expired");
    assert!(
        latches[1].await_leadership_timeout(Duration::from_secs(30)).await.unwrap(),
        "{}: p1 succeeds",
        b.name()
    );
    // p0 comes back on a new session, behind p2 (after a reconnect, which backs off up to
    // 1 s, and a new session).
    let mut ids = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        ids = latches[1].participants().await.unwrap().into_iter().map(|p| p.id).collect::<Vec<_>>();
        if ids.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ids, [b"p1".to_vec(), b"p2".to_vec(), b"p0".to_vec()], "{}", b.name());
    // p0's events are logged by another task: wait until all four can be there.
    eventually(10, "p0's events", || async { p0_events().len() >= 4 }).await;
    assert_eq!(
        p0_events(),
        [LatchEvent::Elected, LatchEvent::Suspended, LatchEvent::NotLeader, LatchEvent::Lost],
        "{}",
        b.name()
    );
    // No order across clients is asserted here: p0's disconnect crosses the proxy while p1
    // hears of the deletion directly, so either may come first in real time. The server's
    // own order (connection closed before the deletions) is checked on the paused clock in
    // `expired_leader_is_suspended_then_lost`.
    for latch in &latches {
        latch.close().await.unwrap();
    }
}

/// On a client that renews its session (the default), a latch whose session expires reports
/// Lost and rejoins behind the others on the client's new session, with no factory; it leads
/// again when its turn comes.
#[tokio::test(start_paused = true)]
async fn on_a_renewing_client_an_expired_latch_rejoins_behind() {
    use futures::FutureExt;
    let server = server(59).await;
    let a_client = client(&server).await;
    let a = LeaderLatch::new(a_client.clone(), "/election/renewing", "a").unwrap();
    let mut events = a.events();
    a.start().unwrap();
    assert!(a.await_leadership_timeout(Duration::from_secs(5)).await.unwrap());
    let b = LeaderLatch::new(client(&server).await, "/election/renewing", "b").unwrap();
    b.start().unwrap();
    settle().await;
    let old = a_client.session_id();

    assert!(server.expire_session(old));
    assert!(b.await_leadership_timeout(Duration::from_secs(60)).await.unwrap(), "b succeeds a");
    settle().await;
    let node = a.node().expect("a rejoined with a new node");
    let owner = server.node(&node).unwrap().stat.ephemeral_owner;
    assert_eq!(owner, a_client.session_id(), "on the client's new session");
    assert_ne!(owner, old);
    let ids: Vec<Vec<u8>> = b.participants().await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, [b"b".to_vec(), b"a".to_vec()], "a queues behind b");
    assert!(!a.is_leader());

    b.close().await.unwrap();
    assert!(a.await_leadership_timeout(Duration::from_secs(5)).await.unwrap(), "a leads on its new session");
    let mut seen = Vec::new();
    while let Some(Some(ev)) = events.next().now_or_never() {
        seen.push(ev);
    }
    assert_eq!(
        seen,
        [
            LatchEvent::Elected,
            LatchEvent::Suspended,
            LatchEvent::NotLeader,
            LatchEvent::Lost,
            LatchEvent::Elected
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_id_too_large_for_a_node_is_rejected() {
    let server = server(59).await;
    // The server refuses a node this large: the latch's task would retry its create for ever.
    let huge = vec![b'x'; 2 << 20];
    let r = LeaderLatch::new(client(&server).await, "/election/huge", &huge);
    assert!(matches!(r, Err(zk_recipes::Error::InvalidArgument(_))), "{:?}", r.map(|l| l.node()));
    let fits = LeaderLatch::new(client(&server).await, "/election/huge", vec![b'x'; 512 << 10]).unwrap();
    fits.start().unwrap();
    assert!(fits.await_leadership_timeout(Duration::from_secs(5)).await.unwrap());
}

/// A latch that cannot create its node for a reason waiting does not cure says so through
/// `await_leadership` (instead of answering `false` for ever), and takes part once the cause
/// is fixed.
#[tokio::test(start_paused = true)]
async fn a_lasting_error_is_reported_and_the_latch_recovers_from_it() {
    use zk_core::{Acl, CreateMode, Perms};

    let server = server(60).await;
    let admin = client(&server).await;
    admin
        .create(
            "/locked",
            b"",
            CreateMode::Persistent.with_acl(vec![Acl::world_anyone(Perms::READ | Perms::ADMIN)]),
        )
        .await
        .unwrap();
    let latch = LeaderLatch::new(client(&server).await, "/locked/election", "p0").unwrap();
    latch.start().unwrap();
    let started = Instant::now();
    let r = latch.await_leadership_timeout(Duration::from_secs(30)).await;
    assert_eq!(r.map_err(|e| e.to_string()), Err(zk_recipes::Error::Zk(zk_core::Error::NoAuth).to_string()));
    assert!(started.elapsed() < Duration::from_secs(1), "reported after {:?}", started.elapsed());
    assert!(!latch.is_leader());
    admin.set_acl("/locked", &Acl::open_unsafe(), None).await.unwrap();
    assert!(latch.await_leadership_timeout(Duration::from_secs(30)).await.unwrap(), "leads once allowed");

    // Under an ephemeral node nothing can be created.
    admin.create("/eph", b"", CreateMode::Ephemeral).await.unwrap();
    let under = LeaderLatch::new(client(&server).await, "/eph/election", "p1").unwrap();
    under.start().unwrap();
    let r = under.await_leadership_timeout(Duration::from_secs(30)).await;
    assert!(matches!(r, Err(zk_recipes::Error::Zk(zk_core::Error::NoChildrenForEphemerals))), "{r:?}");
}

/// A leader cut off for a third of its session timeout keeps its leadership with the same
/// node (the same fencing token), under both policies: nobody else is elected, and the
/// standard policy's Suspended/NotLeader is followed by Elected again, with no Lost.
#[tokio::test(start_paused = true)]
async fn a_leader_cut_off_for_a_third_of_the_timeout_keeps_its_node() {
    for (seed, policy) in [(61, ConnectionPolicy::Standard), (62, ConnectionPolicy::SessionBased)] {
        let server = server(seed).await;
        let a_client = client(&server).await;
        let a = LeaderLatch::new(a_client.clone(), "/election/third", "a").unwrap().with_policy(policy);
        let b = LeaderLatch::new(client(&server).await, "/election/third", "b").unwrap();
        let mut events = a.events();
        a.start().unwrap();
        assert!(a.await_leadership_timeout(Duration::from_secs(5)).await.unwrap());
        b.start().unwrap();
        settle().await;
        let node = a.node().expect("a's node");
        let mut b_events = b.events();

        // As when a quorum is lost: the connection is closed at once and no server answers
        // for a third of the session timeout.
        assert!(server.partition_session(a_client.session_id(), a_client.session_timeout() / 3));
        assert!(server.drop_connection(a_client.session_id()));
        tokio::time::sleep(a_client.session_timeout() / 3 + Duration::from_secs(5)).await;
        assert!(
            a.await_leadership_timeout(Duration::from_secs(5)).await.unwrap(),
            "{policy:?}: a leads again"
        );
        assert_eq!(a.node(), Some(node.clone()), "{policy:?}: the same node");
        assert!(!b.is_leader());
        let mut seen = Vec::new();
        while let Some(Some(ev)) = futures::FutureExt::now_or_never(events.next()) {
            seen.push(ev);
        }
        let expected = match policy {
            ConnectionPolicy::Standard => {
                vec![LatchEvent::Elected, LatchEvent::Suspended, LatchEvent::NotLeader, LatchEvent::Elected]
            }
            _ => vec![LatchEvent::Elected],
        };
        assert_eq!(seen, expected, "{policy:?}");
        assert!(futures::FutureExt::now_or_never(b_events.next()).is_none(), "{policy:?}: b never elected");
    }
}
