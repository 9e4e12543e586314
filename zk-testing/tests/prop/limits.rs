//! Hangs and panics are failures with their seed and plan, within the limits, never a hung
//! test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use zk_core::CreateMode;
use zk_testing::check::{Recorder, Violation};
use zk_testing::prop::{Runner, ShrinkEnd, Verdict};
use zk_testing::{FaultKind, FaultPlan, FaultPlanConfig, FaultWeights, TestServer};

/// Awaits a future that never completes.
async fn waits_forever(server: &TestServer, plan: &FaultPlan, _: &Recorder) -> Result<(), Violation> {
    let zk = server.client().await.expect("a client");
    plan.apply(server, &[zk]).await;
    std::future::pending().await
}

#[test]
fn a_scenario_that_never_finishes_hangs_in_virtual_time() {
    let started = std::time::Instant::now();
    let failure = Runner::new()
        .seeds(5)
        .first_seed(40)
        .virtual_limit(Duration::from_secs(3600))
        .run(waits_forever)
        .expect_err("it never finishes");
    assert_eq!(failure.original.seed, 40);
    assert_eq!(failure.original.verdict, Verdict::VirtualTimeout(Duration::from_secs(3600)));
    // A hang is a failure to shrink on: with no fault it still hangs.
    assert!(failure.minimal.plan.is_empty(), "{failure}");
    assert_eq!(failure.shrinking.end, ShrinkEnd::Minimal);
    assert!(failure.to_string().contains("hung: not finished after 3600s of virtual time"), "{failure}");
    assert!(started.elapsed() < Duration::from_secs(60), "an hour of virtual time is quick");
}

/// Lets the spinning scenario's thread go once the test is done with it.
static STOP_SPINNING: AtomicBool = AtomicBool::new(false);

/// Spins without ever yielding to the runtime (for at most 2 minutes of wall time).
async fn spins(server: &TestServer, _: &FaultPlan, _: &Recorder) -> Result<(), Violation> {
    let _zk = server.client().await.expect("a client");
    let started = std::time::Instant::now();
    while !STOP_SPINNING.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

#[test]
fn a_scenario_that_spins_hangs_in_wall_time_and_is_not_shrunk() {
    let started = std::time::Instant::now();
    let result = Runner::new().seeds(3).first_seed(9).wall_limit(Duration::from_millis(500)).run(spins);
    STOP_SPINNING.store(true, Ordering::Relaxed);
    let failure = result.expect_err("it spins");
    assert_eq!(failure.original.seed, 9);
    assert_eq!(failure.original.verdict, Verdict::WallTimeout(Duration::from_millis(500)));
    assert_eq!(failure.shrinking.end, ShrinkEnd::NotShrinkable);
    assert_eq!((failure.shrinking.runs, failure.stats.runs), (0, 1));
    assert_eq!(failure.minimal.plan, failure.original.plan);
    let text = failure.to_string();
    assert!(text.contains("hung: not finished after 500ms of wall time"), "{text}");
    assert!(text.contains("ZK_PROP_SEED=9"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Panics when a create fails: a fault that fails a request makes it panic.
async fn panics_on_error(server: &TestServer, plan: &FaultPlan, _: &Recorder) -> Result<(), Violation> {
    let zk = server.client().await.expect("a client");
    let work = async {
        for i in 0..20 {
            zk.create(&format!("/n{i}"), b"", CreateMode::Persistent).await.expect("create failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::join!(plan.apply(server, std::slice::from_ref(&zk)), work);
    Ok(())
}

#[test]
fn a_panic_is_reported_with_its_seed_and_plan_and_shrunk() {
    let plans = FaultPlanConfig {
        faults: 4..=6,
        horizon: Duration::from_secs(20),
        weights: FaultWeights { fail: 1, latency: 1, ..FaultWeights::none() },
        ..FaultPlanConfig::default()
    };
    let failure = Runner::new().seeds(10).config(plans).run(panics_on_error).expect_err("a create fails");
    let Verdict::Panicked(message) = &failure.original.verdict else { panic!("{failure}") };
    assert!(message.contains("create failed"), "{message}");
    assert!(failure.original.plan.iter().any(|f| matches!(f.kind, FaultKind::Fail { .. })));
    let minimal = &failure.minimal.plan;
    assert_eq!(minimal.len(), 1, "{failure}");
    assert!(matches!(minimal.faults()[0].kind, FaultKind::Fail { .. }), "{failure}");
    let text = failure.to_string();
    assert!(text.contains(&format!("property failed at seed {}", failure.original.seed)), "{text}");
    assert!(text.contains(&failure.original.plan.to_string().replace('\n', "\n    ")), "{text}");
    assert!(text.contains("panicked: create failed"), "{text}");
}
