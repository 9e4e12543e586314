//! `Election` (Curator's LeaderSelector layout) and the master/standby helper, on the
//! embedded server with a paused clock, plus the failover scenario on both backends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::{sleep, timeout, Instant};
use zk_core::{Client, CreateMode, Op, SessionState};
use zk_recipes::{
    layout, ConnectionPolicy, Election, Error, Leadership, LostReason, Participant, Standby, TermEnd,
};
use zk_testing::{Backend, TestServer};

use crate::{client, eventually, server, settle};

const PATH: &str = "/election/master";

fn seq(node: &str) -> u64 {
    layout::sort_key(node, layout::MUTEX_LOCK_NAME).parse().expect("sequence")
}

/// Spawns a campaign that sends its leadership (and the virtual time) on `tx`.
fn spawn_campaign(
    election: Arc<Election>,
    tx: tokio::sync::mpsc::UnboundedSender<(usize, Leadership, Instant)>,
    i: usize,
) {
    tokio::spawn(async move {
        let l = election.campaign().await.expect("campaign");
        let _ = tx.send((i, l, Instant::now()));
    });
}

#[tokio::test(start_paused = true)]
async fn five_participants_lead_one_at_a_time_in_sequence_order() {
    let server = server(1).await;
    let expected: Vec<Option<Vec<u8>>> = std::iter::once(None)
        .chain((0..5).map(|i| Some(format!("p{i}").into_bytes())))
        .chain(std::iter::once(None))
        .collect();
    let mut elections = Vec::new();
    let mut observers = Vec::new();
    for i in 0..5 {
        let e = Arc::new(Election::new(client(&server).await, PATH, format!("p{i}").as_bytes()).unwrap());
        let mut stream = e.observe();
        let n = expected.len();
        observers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..n {
                let item = timeout(Duration::from_secs(60), stream.next()).await.expect("observer item");
                seen.push(item.unwrap().unwrap().map(|p: Participant| p.id));
            }
            seen
        }));
        elections.push(e);
    }
    settle().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, e) in elections.iter().enumerate() {
        spawn_campaign(e.clone(), tx.clone(), i);
        settle().await;
    }
    let mut order = Vec::new();
    let mut last_seq = 0;
    for _ in 0..5 {
        let (i, leadership, _) = rx.recv().await.unwrap();
        settle().await;
        assert!(rx.try_recv().is_err(), "two leaders at once");
        assert!(leadership.is_leader());
        assert!(seq(leadership.path()) > last_seq || order.is_empty(), "not in sequence order");
        last_seq = seq(leadership.path());
        let leader = elections[0].leader().await.unwrap().unwrap();
        assert_eq!(leader.node, leadership.path());
        assert_eq!(leader.id, format!("p{i}").into_bytes());
        assert_eq!(elections[0].participants().await.unwrap().len(), 5 - order.len());
        order.push(i);
        leadership.resign().await.unwrap();
    }
    assert_eq!(order, vec![0, 1, 2, 3, 4], "leaders in campaign (sequence) order");
    settle().await;
    assert!(server.children(PATH).is_empty());
    for o in observers {
        assert_eq!(o.await.unwrap(), expected, "every observer sees the same leader order");
    }
}

/// The leader is cut off longer than its session timeout: its `lost()` resolves (on
/// Disconnected) strictly before the successor's `campaign()` returns or an observer sees the
/// successor.
#[tokio::test(start_paused = true)]
async fn partition_loses_leadership_before_anyone_sees_the_successor() {
    let server = server(2).await;
    let a_client = client(&server).await;
    let a = Election::new(a_client.clone(), PATH, b"a").unwrap();
    let b = Arc::new(Election::new(client(&server).await, PATH, b"b").unwrap());
    let observer = Election::new(client(&server).await, PATH, b"o").unwrap();
    let leadership = a.campaign().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    spawn_campaign(b.clone(), tx, 1);
    let mut stream = observer.observe();
    assert_eq!(stream.next().await.unwrap().unwrap().unwrap().id, b"a");
    let seen = tokio::spawn(async move {
        let p = stream.next().await.unwrap().unwrap().unwrap();
        (p.id, Instant::now())
    });
    settle().await;

    server.partition_session(a_client.session_id(), Duration::from_secs(60));
    let reason = leadership.lost().await;
    let lost_at = Instant::now();
    assert_eq!(reason, LostReason::Disconnected);
    assert!(!leadership.is_leader());
    let (_, b_lead, elected_at) = rx.recv().await.unwrap();
    let (id, seen_at) = seen.await.unwrap();
    assert_eq!(id, b"b");
    assert!(b_lead.is_leader());
    assert!(lost_at < elected_at, "old leader lost at {lost_at:?}, successor elected at {elected_at:?}");
    assert!(lost_at < seen_at, "old leader lost at {lost_at:?}, observer saw successor at {seen_at:?}");
}

#[tokio::test(start_paused = true)]
async fn expired_session_loses_leadership() {
    let server = server(3).await;
    // A client that ends with its session (a renewing one campaigns again on its new one).
    let a_client = server.client_builder().on_expiry(zk_core::OnExpiry::End).connect().await.unwrap();
    let a = Election::new(a_client.clone(), PATH, b"a").unwrap();
    let b = Arc::new(Election::new(client(&server).await, PATH, b"b").unwrap());
    let leadership = a.campaign().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    spawn_campaign(b.clone(), tx, 1);
    settle().await;
    assert!(server.expire_session(a_client.session_id()));
    let reason = leadership.lost().await;
    let lost_at = Instant::now();
    // The server closes the expired session's connection before it deletes the session's
    // nodes: under the Standard policy the leader gives up on the disconnect.
    assert_eq!(reason, LostReason::Disconnected);
    let (_, _b_lead, elected_at) = rx.recv().await.unwrap();
    assert!(lost_at <= elected_at);
    // Campaigning on the dead client fails; no node is left.
    assert!(matches!(leadership.resign().await, Err(zk_recipes::Error::LockLost) | Ok(())));
    assert!(matches!(a.campaign().await, Err(zk_recipes::Error::SessionEnded(_))));
    assert_eq!(server.children(PATH).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn deleted_node_loses_leadership() {
    let server = server(4).await;
    let a = Election::new(client(&server).await, PATH, b"a").unwrap();
    let admin = client(&server).await;
    let leadership = a.campaign().await.unwrap();
    settle().await;
    admin.delete(leadership.path(), None).await.unwrap();
    let deleted_at = Instant::now();
    assert_eq!(leadership.lost().await, LostReason::NodeDeleted);
    assert_eq!(Instant::now(), deleted_at, "lost within one notification (no virtual time)");
    leadership.resign().await.unwrap();
}

/// Auto re-queue: two standbys whose work gives up leadership after a second alternate.
#[tokio::test(start_paused = true)]
async fn auto_requeue_gets_leadership_again() {
    let server = server(5).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut runs = Vec::new();
    for name in ["a", "b"] {
        let e = Election::new(client(&server).await, PATH, name.as_bytes()).unwrap();
        let log = log.clone();
        runs.push(tokio::spawn(async move {
            let shutdown = sleep(Duration::from_secs(60));
            Standby::new(&e)
                .max_terms(2)
                .run(shutdown, |_| {
                    let log = log.clone();
                    async move {
                        log.lock().unwrap().push(name);
                        sleep(Duration::from_secs(1)).await;
                    }
                })
                .await
        }));
        settle().await;
    }
    for r in runs {
        let report = r.await.unwrap();
        assert!(report.error.is_none());
        assert_eq!(report.terms.len(), 2);
        assert!(report.terms.iter().all(|t| t.end == TermEnd::Finished));
    }
    assert_eq!(*log.lock().unwrap(), vec!["a", "b", "a", "b"]);
}

/// Leadership lost -> the task is dropped at once (same virtual instant as the notification)
/// and the standby campaigns again.
#[tokio::test(start_paused = true)]
async fn run_while_leader_cancels_promptly_and_recampaigns() {
    let server = server(6).await;
    let e = Election::new(client(&server).await, PATH, b"a").unwrap();
    let admin = client(&server).await;
    struct OnDrop(Arc<Mutex<Vec<Instant>>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(Instant::now());
        }
    }
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = dropped.clone();
    let run = tokio::spawn(async move {
        let shutdown = sleep(Duration::from_secs(30));
        zk_recipes::run_while_leader(&e, shutdown, move |_token| {
            let guard = OnDrop(d.clone());
            async move {
                let _guard = guard;
                std::future::pending::<()>().await
            }
        })
        .await
    });
    settle().await;
    let first = server.children(PATH);
    assert_eq!(first.len(), 1);
    admin.delete(&first[0], None).await.unwrap();
    let deleted_at = Instant::now();
    settle().await;
    assert_eq!(*dropped.lock().unwrap(), vec![deleted_at], "cancelled within one notification");
    let report = run.await.unwrap();
    assert!(report.error.is_none());
    let ends: Vec<_> = report.terms.iter().map(|t| t.end).collect();
    assert_eq!(ends, vec![TermEnd::Lost(LostReason::NodeDeleted), TermEnd::Shutdown]);
    assert!(seq(&report.terms[1].node) > seq(&report.terms[0].node));
    settle().await;
    assert!(server.children(PATH).is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancelled_campaign_leaves_no_node() {
    let server = server(7).await;
    let a = Election::new(client(&server).await, PATH, b"a").unwrap();
    let b = Election::new(client(&server).await, PATH, b"b").unwrap();
    let leadership = a.campaign().await.unwrap();
    assert!(timeout(Duration::from_secs(1), b.campaign()).await.is_err());
    // Cancelled at the first poll, before the create was sent.
    assert!(timeout(Duration::ZERO, b.campaign()).await.is_err());
    settle().await;
    assert_eq!(server.children(PATH), vec![leadership.path().to_owned()]);
    leadership.resign().await.unwrap();
}

/// Node names and order match Curator's LeaderSelector (an InterProcessMutex with lock name
/// `lock-`): `_c_<uuid>-lock-<10-digit seq>`, ordered by sequence whatever the UUIDs say.
#[tokio::test(start_paused = true)]
async fn layout_matches_curators_leader_selector() {
    let server = server(8).await;
    let admin = client(&server).await;
    let e = Election::new(client(&server).await, PATH, b"ours").unwrap();
    let l = e.campaign().await.unwrap();
    let name = l.path().rsplit('/').next().unwrap().to_owned();
    assert!(layout::is_protected(&name), "{name}");
    let rest = layout::strip_protected(&name);
    assert!(rest.starts_with("lock-") && rest.len() == 15, "{rest}");
    assert!(rest[5..].bytes().all(|b| b.is_ascii_digit()));
    l.resign().await.unwrap();
    // Fixed children as Curator would leave them: order by the text after `lock-` only.
    let fixed = [
        "_c_ffffffff-ffff-ffff-ffff-ffffffffffff-lock-0000000005",
        "_c_00000000-0000-0000-0000-000000000000-lock-0000000007",
        "_c_88888888-8888-8888-8888-888888888888-lock-0000000006",
    ];
    for (i, n) in fixed.iter().enumerate() {
        admin
            .create(&format!("{PATH}/{n}"), format!("c{i}").as_bytes(), CreateMode::Persistent)
            .await
            .unwrap();
    }
    let ids: Vec<_> = e.participants().await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![b"c0".to_vec(), b"c2".to_vec(), b"c1".to_vec()]);
    assert_eq!(e.leader().await.unwrap().unwrap().node, format!("{PATH}/{}", fixed[0]));
    let first = e.observe().next().await.unwrap().unwrap().unwrap();
    assert_eq!(first.id, b"c0");
}

zk_testing::both_backends!(failover_on_leader_close);

/// The leader's client closes; the waiting candidate's `campaign()` returns (real time).
async fn failover_on_leader_close(b: &Backend) {
    let root = b.create_root("election-failover").await;
    let path = format!("{root}/master");
    let connect = b.connect_string();
    let a_client = Client::connect(&connect).await.expect("connect");
    let a = Election::new(a_client.clone(), &path, b"a").unwrap();
    let c = Arc::new(Election::new(Client::connect(&connect).await.expect("connect"), &path, b"b").unwrap());
    let leadership = a.campaign().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    spawn_campaign(c.clone(), tx, 1);
    // Wait until the candidate's node exists.
    eventually(10, "the candidate joins", || async { c.participants().await.unwrap().len() >= 2 }).await;
    let closed_at = Instant::now();
    a_client.close().await;
    let reason = leadership.lost().await;
    assert!(matches!(reason, LostReason::SessionEnded | LostReason::NodeDeleted), "{reason:?}");
    let (_, next, elected_at) = timeout(Duration::from_secs(10), rx.recv()).await.expect("failover").unwrap();
    let failover = elected_at - closed_at;
    eprintln!("{{\"backend\":\"{}\",\"failover_ms\":{:.3}}}", b.name(), failover.as_secs_f64() * 1e3);
    assert!(next.is_leader());
    assert_eq!(c.leader().await.unwrap().unwrap().id, b"b");
    assert!(failover < Duration::from_secs(5), "{}: failover took {failover:?}", b.name());
}

/// 100 participants on 100 sessions: each leadership change (the leader resigns) wakes only
/// the next candidate (no herd effect). Besides the successor's predecessor watch, the one
/// other watch on the leader's node is the leader's own (its [`Leadership`] monitor's), so a
/// resign costs the server exactly two notifications, whatever the number of participants.
#[tokio::test(start_paused = true)]
async fn each_leadership_change_wakes_only_the_successor() {
    const N: usize = 100;
    const PATH: &str = "/election/hundred";
    let server = server(8).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut elections, mut sessions) = (Vec::new(), Vec::new());
    for i in 0..N {
        let zk = client(&server).await;
        sessions.push(zk.session_id());
        let e = Arc::new(Election::new(zk, PATH, format!("p{i}").as_bytes()).unwrap());
        spawn_campaign(e.clone(), tx.clone(), i);
        settle().await;
        elections.push(e);
    }
    assert_eq!(server.children(PATH).len(), N);
    let (first, mut leadership, _) = rx.recv().await.unwrap();
    assert_eq!(first, 0);
    assert!(rx.try_recv().is_err(), "one leader");
    for k in 0..3 {
        let node = leadership.path().to_owned();
        let mut watchers: Vec<i64> =
            server.watches().into_iter().filter(|(_, w)| w.contains(&node)).map(|(s, _)| s).collect();
        watchers.sort_unstable();
        assert_eq!(
            watchers,
            vec![sessions[k], sessions[k + 1]],
            "change {k}: only leader and successor watch"
        );
        let before = server.notifications_sent();
        leadership.resign().await.unwrap();
        settle().await;
        assert_eq!(
            server.notifications_sent() - before,
            1,
            "change {k}: only the successor's watch fires, not a herd"
        );
        let (next, l, _) = rx.recv().await.unwrap();
        assert_eq!(next, k + 1, "leadership passes in sequence order");
        assert!(rx.try_recv().is_err(), "one leader");
        assert!(l.is_leader());
        leadership = l;
    }
    assert_eq!(server.children(PATH).len(), N - 3);
}

/// Records every session state `client` goes through.
fn record_states(client: &Client) -> Arc<Mutex<Vec<SessionState>>> {
    let states = Arc::new(Mutex::new(Vec::new()));
    let (mut rx, log) = (client.state_watch(), states.clone());
    tokio::spawn(async move {
        while let Some(s) = rx.changed().await {
            log.lock().unwrap().push(s.state);
        }
    });
    states
}

/// The leader's connection drops and it reconnects (same session) well within the 30 s
/// session timeout. Returns the leadership, whether `lost()` resolved within 20 s and with
/// what, and the session states the leader's client went through.
async fn short_disconnect(
    seed: u64,
    policy: ConnectionPolicy,
) -> (TestServer, Leadership, Option<LostReason>, Vec<SessionState>) {
    let server = server(seed).await;
    let a_client = client(&server).await;
    let a = Election::new(a_client.clone(), PATH, b"a").unwrap().with_policy(policy);
    let b = Arc::new(Election::new(client(&server).await, PATH, b"b").unwrap().with_policy(policy));
    let leadership = a.campaign().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    spawn_campaign(b, tx, 1);
    settle().await;
    let states = record_states(&a_client);
    // Cut the connection and hold reconnection attempts for 2 s (the timeout is 30 s).
    assert!(server.partition_session(a_client.session_id(), Duration::from_secs(2)));
    assert!(server.drop_connection(a_client.session_id()));
    let lost = timeout(Duration::from_secs(20), leadership.lost()).await.ok();
    sleep(Duration::from_secs(10)).await;
    let states = states.lock().unwrap().clone();
    assert!(states.contains(&SessionState::Disconnected), "{states:?}");
    assert_eq!(states.last(), Some(&SessionState::Connected), "reconnected: {states:?}");
    assert_eq!(server.children(PATH).len(), 2, "same session, both nodes stand");
    assert!(rx.try_recv().is_err(), "the other candidate did not become leader");
    (server, leadership, lost, states)
}

#[tokio::test(start_paused = true)]
async fn session_based_leader_survives_a_short_disconnect() {
    let (server, leadership, lost, _) = short_disconnect(9, ConnectionPolicy::SessionBased).await;
    assert_eq!(lost, None, "lost() must not resolve");
    assert!(leadership.is_leader());
    assert_eq!(leadership.lost_reason(), None);
    assert!(server.children(PATH).contains(&leadership.path().to_owned()));
    leadership.resign().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn standard_leader_loses_leadership_on_a_short_disconnect() {
    let (_server, leadership, lost, _) = short_disconnect(10, ConnectionPolicy::Standard).await;
    assert_eq!(lost, Some(LostReason::Disconnected));
    assert!(!leadership.is_leader(), "a lost leadership stays lost after reconnect");
    assert_eq!(leadership.lost_reason(), Some(LostReason::Disconnected));
    leadership.resign().await.unwrap();
}

/// The data of `/data` as the server holds it.
fn data_of(server: &TestServer) -> Vec<u8> {
    server.node("/data").and_then(|n| n.data).unwrap_or_default()
}

/// A leader's fenced writes (through the leadership and through its token) apply; once its
/// session expired they fail with `LockLost` and apply nothing, also after the client's new
/// session is up.
#[tokio::test(start_paused = true)]
async fn fenced_write_applies_while_leading_and_not_after_expiry() {
    let server = server(11).await;
    let a_client = client(&server).await;
    let admin = client(&server).await;
    admin.create("/data", b"0", CreateMode::Persistent).await.unwrap();
    let a = Election::new(a_client.clone(), PATH, b"a").unwrap();
    let leadership = a.campaign().await.unwrap();
    let token = leadership.token();
    let r = leadership.fenced(&[Op::set_data("/data", b"1", None)]).await.unwrap();
    assert_eq!(r.len(), 1, "the results of our ops only, not of the check");
    token.fenced(&[Op::set_data("/data", b"2", None)]).await.unwrap();
    assert_eq!(data_of(&server), b"2");
    // One of our ops failing is reported with its index into our ops.
    let r = leadership.fenced(&[Op::set_data("/data", b"3", None), Op::delete("/missing", None)]).await;
    assert!(matches!(r, Err(Error::Zk(zk_core::Error::MultiFailed { index: 1, .. }))), "{r:?}");
    assert_eq!(data_of(&server), b"2", "a failed multi applies nothing");

    assert!(server.expire_session(a_client.session_id()));
    leadership.lost().await;
    let set = [Op::set_data("/data", b"4", None)];
    assert_eq!(leadership.fenced(&set).await, Err(Error::LockLost));
    assert_eq!(token.fenced(&set).await, Err(Error::LockLost));
    eventually(10, "a new session", || async { a_client.state() == SessionState::Connected }).await;
    assert_eq!(leadership.fenced(&set).await, Err(Error::LockLost));
    assert_eq!(token.fenced(&set).await, Err(Error::LockLost));
    assert_eq!(data_of(&server), b"2");
    assert!(leadership.resign().await.is_err(), "the node went with the session");
    // A token kept past a resigned term fails too.
    let next = a.campaign().await.unwrap();
    let kept = next.token();
    next.resign().await.unwrap();
    assert_eq!(kept.fenced(&set).await, Err(Error::LockLost));
    assert_eq!(data_of(&server), b"2");
}

/// Someone deletes the leader's node: the fenced write fails (on the server, if the
/// notification has not arrived yet) and applies nothing.
#[tokio::test(start_paused = true)]
async fn fenced_write_fails_once_the_node_is_deleted() {
    let server = server(12).await;
    let admin = client(&server).await;
    admin.create("/data", b"0", CreateMode::Persistent).await.unwrap();
    let a = Election::new(client(&server).await, PATH, b"a").unwrap();
    let leadership = a.campaign().await.unwrap();
    leadership.fenced(&[Op::set_data("/data", b"1", None)]).await.unwrap();
    admin.delete(leadership.path(), None).await.unwrap();
    let set = [Op::set_data("/data", b"2", None)];
    assert_eq!(leadership.fenced(&set).await, Err(Error::LockLost));
    assert_eq!(leadership.lost().await, LostReason::NodeDeleted);
    assert_eq!(leadership.token().fenced(&set).await, Err(Error::LockLost));
    assert_eq!(data_of(&server), b"1");
}

/// A partitioned leader under the session-based policy still believes it leads when the
/// server expires its session and elects the successor; its fenced write, queued during the
/// partition, reaches the server only after that, so the check on its (deleted) node makes
/// it fail: the successor's write stands.
#[tokio::test(start_paused = true)]
async fn partitioned_leaders_late_fenced_write_is_not_applied() {
    let server = server(13).await;
    let admin = client(&server).await;
    admin.create("/data", b"0", CreateMode::Persistent).await.unwrap();
    let timeout = Duration::from_secs(4);
    // Requests wait in the queue for the whole partition instead of failing at once.
    let a_client =
        server.client_builder().session_timeout(timeout).queue_timeout(timeout * 10).connect().await.unwrap();
    let policy = ConnectionPolicy::SessionBased;
    let a = Election::new(a_client.clone(), PATH, b"a").unwrap().with_policy(policy);
    let b = Arc::new(Election::new(client(&server).await, PATH, b"b").unwrap().with_policy(policy));
    let leadership = a.campaign().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    spawn_campaign(b, tx, 1);
    settle().await;

    assert!(server.partition_session(a_client.session_id(), timeout * 3));
    eventually(10, "a is disconnected", || async { a_client.state() != SessionState::Connected }).await;
    assert!(leadership.is_leader(), "the session-based leader does not know yet");
    let set = [Op::set_data("/data", b"a", None)];
    let late = leadership.fenced(&set);
    let (late, successor) = tokio::join!(late, async {
        let (_, b_lead, _) = rx.recv().await.unwrap();
        b_lead.fenced(&[Op::set_data("/data", b"b", None)]).await.unwrap();
        b_lead
    });
    assert_eq!(late, Err(Error::LockLost));
    assert_eq!(leadership.lost().await, LostReason::SessionEnded);
    settle().await;
    assert_eq!(data_of(&server), b"b", "the deposed leader's write was not applied");
    assert!(successor.is_leader());
}

/// A waiting standby's session expires: on a renewing client it campaigns again on the new
/// session and leads once the leader resigns; on a client that ends with its session the run
/// stops with `SessionEnded`.
#[tokio::test(start_paused = true)]
async fn standby_campaigns_again_after_its_session_expires() {
    let server = server(14).await;
    let a = Election::new(client(&server).await, PATH, b"a").unwrap();
    let leadership = a.campaign().await.unwrap();
    let renewing = client(&server).await;
    let ending = server.client_builder().on_expiry(zk_core::OnExpiry::End).connect().await.unwrap();
    let mut runs = Vec::new();
    for (zk, name) in [(renewing.clone(), "renewing"), (ending.clone(), "ending")] {
        let e = Election::new(zk, PATH, name.as_bytes()).unwrap();
        runs.push(tokio::spawn(async move {
            let shutdown = sleep(Duration::from_secs(60));
            Standby::new(&e).run(shutdown, |_| std::future::pending::<()>()).await
        }));
    }
    settle().await;
    assert_eq!(server.children(PATH).len(), 3);
    assert!(server.expire_session(renewing.session_id()));
    assert!(server.expire_session(ending.session_id()));
    eventually(10, "the renewing standby is back in the election", || async {
        let owners: Vec<i64> = server
            .children(PATH)
            .iter()
            .filter_map(|c| server.node(c))
            .map(|n| n.stat.ephemeral_owner)
            .collect();
        owners.len() == 2 && owners.contains(&renewing.session_id())
    })
    .await;
    leadership.resign().await.unwrap();
    let (renewed, ended) = (runs.remove(0).await.unwrap(), runs.remove(0).await.unwrap());
    assert_eq!(renewed.error, None);
    let ends: Vec<_> = renewed.terms.iter().map(|t| t.end).collect();
    assert_eq!(ends, vec![TermEnd::Shutdown], "it led after the resign, until the shutdown");
    assert!(matches!(ended.error, Some(Error::SessionEnded(_))), "{:?}", ended.error);
    assert!(ended.terms.is_empty());
}
