//! Fault plans: printed and parsed back, drawn from seeds, applied on the paused clock.

use std::time::Duration;

use tokio::time::Instant;
use zk_core::proto::{ErrorCode, OpCode};
use zk_core::{Client, CreateMode, Error, EventType, SessionEvent, SessionEvents};
use zk_testing::{
    FaultKind, FaultOutcome, FaultPlan, FaultPlanConfig, FaultWeights, RequestMatcher, TestServer,
};

/// Every kind, several matchers and error codes, odd path prefixes: what a round trip must
/// survive.
fn everything() -> FaultPlanConfig {
    FaultPlanConfig {
        participants: 12,
        faults: 0..=12,
        horizon: Duration::from_secs(600),
        weights: FaultWeights { expire_now: 1, ..FaultWeights::default() },
        matchers: vec![
            RequestMatcher::any(),
            RequestMatcher::op(OpCode::Create2).path_prefix("/locks/"),
            RequestMatcher::op(OpCode::SetData),
            RequestMatcher::any().path_prefix("/odd \"path\"; with\nbreaks\\ and é"),
        ],
        errors: vec![ErrorCode::ThrottledOp, ErrorCode::ConnectionLoss, ErrorCode::NoAuth],
        ..FaultPlanConfig::default()
    }
}

#[test]
fn printed_plans_parse_back_to_themselves() {
    let config = everything();
    for seed in 0..2_000 {
        let mut plan = config.draw(seed);
        // Shrinking makes durations that are no whole number of milliseconds.
        for i in 0..plan.len() {
            for _ in 0..(seed as usize + i) % 12 {
                plan = plan.shortened(i).unwrap_or(plan);
            }
        }
        let text = plan.to_string();
        assert_eq!(text.parse::<FaultPlan>(), Ok(plan.clone()), "seed {seed}:\n{text}");
        let one_line = format!("{plan:#}");
        assert_eq!(one_line.parse::<FaultPlan>(), Ok(plan.clone()), "seed {seed}: {one_line}");
        assert_eq!(text.lines().count(), plan.len(), "seed {seed}: one fault per line");
    }
}

#[test]
fn drawing_is_deterministic_and_honours_weights() {
    let config = everything();
    let plans: Vec<FaultPlan> = (0..500).map(|seed| config.draw(seed)).collect();
    assert_eq!(plans, (0..500).map(|seed| config.draw(seed)).collect::<Vec<_>>());
    let saw = |pred: fn(&FaultKind) -> bool| plans.iter().flatten().any(|f| pred(&f.kind));
    assert!(saw(|k| matches!(k, FaultKind::Expire { .. })) && saw(|k| matches!(k, FaultKind::Restart)));
    assert!(saw(FaultKind::is_adversarial), "weight 1 draws it");
    let realistic = FaultPlanConfig { weights: FaultWeights::default(), ..config.clone() };
    assert!(
        (0..500).all(|s| realistic.draw(s).iter().all(|f| !f.kind.is_adversarial())),
        "weight 0 never does"
    );
    let only = FaultPlanConfig { weights: FaultWeights { latency: 5, ..FaultWeights::none() }, ..config };
    assert!((0..500).flat_map(|s| only.draw(s)).all(|f| matches!(f.kind, FaultKind::Latency { .. })));
}

/// Reads session events until the next `NewSession` (bounded); returns when `Expired` came
/// (relative to `from`) and the new session's id.
async fn expired_then_new_session(events: &mut SessionEvents, from: Instant) -> (Duration, i64) {
    let mut expired = None;
    for _ in 0..8 {
        match events.next_event().await {
            Some(SessionEvent::Expired) => expired = Some(from.elapsed()),
            Some(SessionEvent::NewSession { session_id }) => {
                return (expired.expect("Expired before NewSession"), session_id);
            }
            Some(SessionEvent::Disconnected | SessionEvent::TimeoutElapsed) => {}
            other => panic!("unexpected session event {other:?}"),
        }
    }
    panic!("no new session after 8 events");
}

async fn connected(server: &TestServer, timeout: Duration) -> (Client, SessionEvents) {
    let client = server.client_builder().session_timeout(timeout).connect().await.unwrap();
    let mut events = client.session_events();
    assert_eq!(events.next_event().await, Some(SessionEvent::Connected));
    (client, events)
}

/// `expire client 0`: the session expires on the server's timer, a session timeout after the
/// server last heard from the client (here: at the cut), never before; the client then sees
/// `Expired` and a new session.
#[tokio::test(start_paused = true)]
async fn a_realistic_expire_lands_a_session_timeout_after_the_cut() {
    let server = TestServer::builder().no_tcp().seed(21).start().await.unwrap();
    let timeout = Duration::from_secs(30);
    let (zk, mut events) = connected(&server, timeout).await;
    let observer = server.client().await.unwrap();
    zk.create("/mine", b"", CreateMode::Ephemeral).await.unwrap();
    let (_, gone) = observer.exists_and_watch("/mine").await.unwrap();
    let old = zk.session_id();
    let plan: FaultPlan = "at 0s: expire client 0".parse().unwrap();
    let cut = Instant::now();
    let (report, (expired_at, new), deleted_at) = tokio::join!(
        plan.apply(&server, std::slice::from_ref(&zk)),
        expired_then_new_session(&mut events, cut),
        async {
            assert_eq!(gone.await.unwrap().event_type, EventType::NodeDeleted);
            cut.elapsed()
        },
    );
    assert!(report.all_applied(), "{report:?}");
    // The tick (2 s) rounds the server's deadline up.
    let about = timeout..=timeout + Duration::from_secs(2);
    assert!(about.contains(&expired_at), "the client saw Expired after {expired_at:?}");
    assert!(about.contains(&deleted_at), "the ephemeral went after {deleted_at:?}");
    assert_ne!(new, old);
    assert_eq!(zk.session_id(), new);
    assert!(zk.create("/mine", b"", CreateMode::Ephemeral).await.is_ok(), "the new session works");
}

/// `expire client 0 now` is the adversarial kind: the session ends at the fault's time.
#[tokio::test(start_paused = true)]
async fn an_adversarial_expire_ends_the_session_at_once() {
    let server = TestServer::builder().no_tcp().seed(22).start().await.unwrap();
    let (zk, mut events) = connected(&server, Duration::from_secs(30)).await;
    let old = zk.session_id();
    let plan: FaultPlan = "at 3s: expire client 0 now".parse().unwrap();
    let start = Instant::now();
    let participants = [old];
    let (report, (expired_at, new)) =
        tokio::join!(plan.apply(&server, &participants), expired_then_new_session(&mut events, start));
    assert!(report.all_applied());
    assert_eq!(expired_at, Duration::from_secs(3));
    assert_ne!(new, old);
    // The same plan against a session that no longer exists does nothing, and says so.
    let again: FaultPlan = "at 0s: expire client 0 now; at 0s: expire client 1".parse().unwrap();
    let report = again.apply(&server, &[old]).await;
    assert_eq!(report.outcomes, [FaultOutcome::NoTarget, FaultOutcome::NoSuchParticipant]);
}

/// A restart fault bounces the server: clients resume their sessions, data is kept.
#[tokio::test(start_paused = true)]
async fn a_restart_fault_bounces_the_server() {
    let server = TestServer::builder().no_tcp().seed(23).start().await.unwrap();
    let (zk, mut events) = connected(&server, Duration::from_secs(30)).await;
    zk.create("/kept", b"1", CreateMode::Persistent).await.unwrap();
    let session = zk.session_id();
    let plan = FaultPlan::new().at(Duration::from_secs(2), FaultKind::Restart);
    let report = plan.apply(&server, &[&zk]).await;
    assert!(report.all_applied(), "{report:?}");
    assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
    assert_eq!(events.next_event().await, Some(SessionEvent::Reconnected));
    assert_eq!(zk.session_id(), session);
    assert_eq!(zk.get_data("/kept").await.unwrap().0, b"1");
}

/// Dropping the applier mid-way stops the plan: the faults before apply, those after never.
#[tokio::test(start_paused = true)]
async fn a_dropped_applier_applies_no_more_faults() {
    let server = TestServer::builder().no_tcp().seed(24).start().await.unwrap();
    let zk = server.client().await.unwrap();
    zk.create("/n", b"", CreateMode::Persistent).await.unwrap();
    let plan: FaultPlan = "at 1s: fail next GetData with NOAUTH\n\
                           at 10s: fail next GetData with NOAUTH\n\
                           at 10s: expire client 0 now"
        .parse()
        .unwrap();
    let session = zk.session_id();
    let participants = [&zk];
    tokio::select! {
        _ = plan.apply(&server, &participants) => panic!("the plan outran the timeout"),
        () = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
    assert_eq!(zk.get_data("/n").await.map(|_| ()), Err(Error::NoAuth), "the fault at 1 s applied");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(zk.get_data("/n").await.is_ok(), "the fault at 10 s did not");
    assert_eq!(zk.session_id(), session, "nor the expiry");
}

/// Overlapping faults of a plan compose: a short pause of everything during a long partition
/// does not let the partitioned client through, and a latency window ends on its own.
#[tokio::test(start_paused = true)]
async fn faults_of_a_plan_compose() {
    let server = TestServer::builder().no_tcp().seed(25).start().await.unwrap();
    let (zk, _events) = connected(&server, Duration::from_secs(40)).await;
    let plan: FaultPlan =
        "at 0s: partition client 0 for 20s; at 1s: pause all for 1s; at 25s: latency 300ms for 5s"
            .parse()
            .unwrap();
    let start = Instant::now();
    let run = plan.apply(&server, std::slice::from_ref(&zk));
    let scenario = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let created = zk.create("/x", b"", CreateMode::Persistent).await;
        assert!(created.is_ok(), "{created:?}");
        assert!(
            start.elapsed() >= Duration::from_secs(20),
            "through the partition after {:?}",
            start.elapsed()
        );
        tokio::time::sleep_until(start + Duration::from_secs(26)).await;
        let t = Instant::now();
        zk.exists("/x").await.unwrap();
        assert_eq!(t.elapsed(), Duration::from_millis(300));
        tokio::time::sleep_until(start + Duration::from_secs(31)).await;
        let t = Instant::now();
        zk.exists("/x").await.unwrap();
        assert_eq!(t.elapsed(), Duration::ZERO, "the latency ended");
    };
    let (report, ()) = tokio::join!(run, scenario);
    assert!(report.all_applied(), "{report:?}");
}

/// A drawn plan against a small scenario replays identically from the same seeds.
#[tokio::test(start_paused = true)]
async fn a_drawn_plan_replays_identically() {
    async fn run(seed: u64) -> Vec<String> {
        let config = FaultPlanConfig {
            participants: 2,
            faults: 3..=6,
            horizon: Duration::from_secs(40),
            matchers: vec![RequestMatcher::op(OpCode::SetData)],
            ..FaultPlanConfig::default()
        };
        let plan = config.draw(seed);
        let server = TestServer::builder().no_tcp().seed(seed).start().await.unwrap();
        let timeout = Duration::from_secs(10);
        let clients = [connected(&server, timeout).await.0, connected(&server, timeout).await.0];
        clients[0].create("/c", b"", CreateMode::Persistent).await.unwrap();
        let start = Instant::now();
        let work = async {
            let mut trace = Vec::new();
            for i in 0..30u32 {
                let c = &clients[i as usize % 2];
                let r = c.set_data("/c", &i.to_be_bytes(), None).await.map(|s| s.version);
                trace.push(format!("{:?} {i} {r:?}", start.elapsed()));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            trace
        };
        let (report, mut trace) = tokio::join!(plan.apply(&server, &clients), work);
        trace.insert(0, format!("{plan:#}"));
        trace.push(format!("{report:?}"));
        trace
    }
    for seed in [1, 2, 3] {
        assert_eq!(run(seed).await, run(seed).await, "seed {seed}");
    }
}
