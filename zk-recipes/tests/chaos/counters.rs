//! The counters: [`SharedCount`] and [`DistributedAtomicLong`].
//!
//! Three participants, each on its own client, add to the counter four times, 300 to 1200 ms
//! apart, each with its own delta (so that the sums of subsets tell the adds apart). Each
//! attempt to change the counter is one recorded `Add`: a [`SharedCount::try_set`] of the
//! value read plus the delta (retried, as a new `Add`, when someone else wrote first), and a
//! [`DistributedAtomicLong::add`] (which retries contention itself). An attempt that failed
//! with a connection loss or a session expiry is ambiguous; one that lost a race or was
//! refused is failed.
//!
//! Checked: [`counter_exact`]: the final value on the server is the initial one plus the adds
//! that succeeded plus some subset of the ambiguous ones.

use std::time::Duration;

use tokio::time::{sleep, Instant};
use zk_recipes::counter::{DistributedAtomicLong, SharedCount};
use zk_recipes::Error;
use zk_testing::check::{counter_exact, Checker, Op, Outcome, Participant, Recorder, Value, Violation};
use zk_testing::{FaultPlan, FaultPlanConfig, FaultWeights, RequestMatcher, TestServer};

use crate::{check_seeds, clients, end_state, must_catch, scenario, settle, Rng};

const COUNTER: &str = "/chaos/counter";
const PARTICIPANTS: usize = 3;
/// Changes each participant makes.
const ADDS: usize = 4;
/// Attempts of one change of a shared count (each a read and a compare-and-set): a bound.
const MAX_ATTEMPTS: usize = 50;

/// Faults for the counters: realistic ones with some adversarial expiries, aimed also at the
/// counter's reads and writes.
fn config() -> FaultPlanConfig {
    use zk_core::proto::OpCode;
    FaultPlanConfig {
        participants: PARTICIPANTS,
        faults: 1..=3,
        horizon: Duration::from_secs(4),
        durations: Duration::from_millis(100)..=Duration::from_secs(5),
        weights: FaultWeights { expire: 2, expire_now: 1, ..FaultWeights::default() },
        matchers: vec![
            RequestMatcher::any(),
            RequestMatcher::op(OpCode::SetData).path_prefix(COUNTER),
            RequestMatcher::op(OpCode::GetData).path_prefix(COUNTER),
        ],
        ..FaultPlanConfig::default()
    }
}

/// What the counter participants do wrong on purpose, for the negative control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// An ambiguous change is reported as failed.
    AmbiguousAsFailed,
}

/// How a change ended, in the history's terms.
fn outcome(e: &Error, bug: Bug) -> Outcome {
    let ambiguous = match e {
        Error::Zk(e) => matches!(Outcome::from_error(e), Outcome::Ambiguous(_)),
        Error::MaybeApplied { .. } => true,
        _ => false,
    };
    match ambiguous {
        true if bug == Bug::AmbiguousAsFailed => Outcome::Failed(format!("(reported as failed) {e}")),
        true => Outcome::Ambiguous(e.to_string()),
        false => Outcome::Failed(e.to_string()),
    }
}

/// Participant `i` of a shared count: [`ADDS`] changes of `delta`, each a read and a
/// compare-and-set, retried on a lost race.
async fn shared_count_adds(count: SharedCount, p: Participant, delta: i32, mut rng: Rng, bug: Bug) {
    for _ in 0..ADDS {
        sleep(rng.millis(300, 1200)).await;
        for _ in 0..MAX_ATTEMPTS {
            let Ok(seen) = count.versioned().await else {
                sleep(rng.millis(100, 300)).await;
                continue;
            };
            let op = p.invoke(Op::add(COUNTER, i64::from(delta)));
            match count.try_set(&seen, seen.value + delta).await {
                Ok(true) => {
                    p.ok(op, Value::Done);
                    break;
                }
                Ok(false) => p.failed(op, "someone else wrote first"),
                Err(e) => {
                    p.returned(op, outcome(&e, bug));
                    break;
                }
            }
        }
    }
}

/// Participant `i` of an atomic long: [`ADDS`] adds of `delta` (an `increment`, `add` or
/// `subtract` by the delta's sign and size).
async fn atomic_long_adds(
    counter: DistributedAtomicLong,
    p: Participant,
    delta: i64,
    mut rng: Rng,
    bug: Bug,
) {
    for _ in 0..ADDS {
        sleep(rng.millis(300, 1200)).await;
        let op = p.invoke(Op::add(COUNTER, delta));
        let r = match delta {
            1 => counter.increment().await,
            d if d < 0 => counter.subtract(-d).await,
            d => counter.add(d).await,
        };
        match r {
            Ok(v) if v.succeeded => p.ok(op, Value::Count(v.post_value)),
            Ok(_) => p.failed(op, "the retry policy gave up under contention"),
            Err(e) => p.returned(op, outcome(&e, bug)),
        }
    }
}

/// The deltas of the participants.
const DELTAS: [i64; PARTICIPANTS] = [1, 10, -100];

/// The counter's value on the server: 4 bytes for a shared count, 8 (or none) for an atomic
/// long.
fn value_on_server(server: &TestServer) -> Option<i64> {
    let data = server.node(COUNTER)?.data.unwrap_or_default();
    match data.len() {
        0 => Some(0),
        4 => Some(i64::from(i32::from_be_bytes(data.try_into().ok()?))),
        8 => Some(i64::from_be_bytes(data.try_into().ok()?)),
        _ => None,
    }
}

/// The scenario of both counters: see the module docs.
async fn counter_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
    shared: bool,
    bug: Bug,
) -> Result<(), Violation> {
    let clients = clients(server, PARTICIPANTS).await;
    if shared {
        SharedCount::new(clients[0].clone(), COUNTER, 0).expect("a count").get().await.expect("created");
    } else {
        let counter = DistributedAtomicLong::new(clients[0].clone(), COUNTER).expect("a counter");
        counter.initialize(0).await.expect("created");
    }
    let initial = value_on_server(server).expect("a readable counter");
    let start = Instant::now();
    let adds = futures::future::join_all(clients.iter().enumerate().map(|(i, c)| {
        let (p, rng) = (recorder.participant(&format!("p{i}")), Rng::new(server, i as u64));
        let client = c.clone();
        async move {
            if shared {
                let count = SharedCount::new(client, COUNTER, 0).expect("a count");
                shared_count_adds(count, p, DELTAS[i] as i32, rng, bug).await;
            } else {
                let counter = DistributedAtomicLong::new(client, COUNTER).expect("a counter");
                atomic_long_adds(counter, p, DELTAS[i], rng, bug).await;
            }
        }
    }));
    tokio::join!(adds, plan.apply(server, &clients));
    settle(server, plan, start, Duration::from_secs(1)).await;
    let Some(last) = value_on_server(server) else {
        return Err(end_state(
            Checker::CounterExact,
            format!("the counter holds unreadable data: {:?}", server.node(COUNTER)),
        ));
    };
    counter_exact(&recorder.history(), COUNTER, initial, last)
}

/// [`SharedCount`]: changes by compare-and-set add up exactly.
pub(crate) async fn shared_count_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    counter_scenario(server, plan, recorder, true, Bug::None).await
}

/// [`DistributedAtomicLong`]: adds add up exactly.
pub(crate) async fn distributed_atomic_long_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    counter_scenario(server, plan, recorder, false, Bug::None).await
}

async fn broken_atomic_long_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    counter_scenario(server, plan, recorder, false, Bug::AmbiguousAsFailed).await
}

#[test]
fn shared_count() {
    check_seeds("shared_count", scenario!(shared_count_scenario), &config());
}

#[test]
fn distributed_atomic_long() {
    check_seeds("distributed_atomic_long", scenario!(distributed_atomic_long_scenario), &config());
}

#[test]
fn negative_counter_exact_catches_an_ambiguous_add_reported_as_failed() {
    use zk_core::proto::OpCode;
    let config = FaultPlanConfig {
        faults: 2..=3,
        weights: FaultWeights { lose_reply: 1, ..FaultWeights::none() },
        matchers: vec![RequestMatcher::op(OpCode::SetData).path_prefix(COUNTER)],
        ..config()
    };
    let control: crate::Scenario = scenario!(broken_atomic_long_scenario);
    must_catch("ambiguous add reported as failed", control, &config, Checker::CounterExact, "");
}
