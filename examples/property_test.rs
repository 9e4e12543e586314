//! Property-testing a small service with zk-testing's runner: a job scheduler that runs each
//! job once, on the leader, is run under a hundred drawn fault plans; what its schedulers
//! did is recorded and checked (no job ran twice). With `--buggy` it has a planted bug, and
//! the runner finds a failing plan, shrinks it to the fault that matters and prints it.
//!
//! ```text
//! cargo run --example property_test              # the correct scheduler: every seed passes
//! cargo run --example property_test -- --buggy   # the planted bug, caught and shrunk
//! ZK_PROP_SEEDS=1000 cargo run --release --example property_test   # more seeds
//! ```
//!
//! It runs on zk-testing's embedded server only (`ZK_CONNECT` is ignored): the faults are
//! the embedded server's, and every run is on tokio's paused clock, so a run of a minute of
//! session timeouts and partitions takes milliseconds, and a printed plan replays exactly.
//!
//! The service: schedulers campaign in one [`Election`]; the leader lists the pending jobs
//! under `/jobs` and runs them one after the other. Before running a job it *claims* it,
//! turning the job's data from `pending` to `claimed` with a write fenced by its leadership
//! ([`Leadership::fenced`]): the write applies only while its election node stands, and only
//! if the job is still at the version it read. A deposed leader (cut off long enough for its
//! session to expire, while a successor took over) learns it at its next claim and stops.
//!
//! The planted bug (`--buggy`): the claim is a plain `set_data`, without the fence and without
//! the version. A deposed leader whose session expired mid-job carries on through its stale
//! list of jobs in its new session, and runs jobs its successor runs too.

use std::process::ExitCode;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::{sleep, timeout};
use zk_core::{Client, CreateMode, Op};
use zk_recipes::{Election, Leadership};
use zk_testing::check::{
    at_most_once, Event, Leadership as Lead, Participant, QueueStep, Recorder, Violation,
};
use zk_testing::prop::{Failure, Runner};
use zk_testing::{FaultPlan, FaultPlanConfig, TestServer};

/// Schedulers, each with its own session.
const SCHEDULERS: usize = 3;
/// Jobs to run, and how long each takes.
const JOBS: usize = 8;
const JOB_TIME: Duration = Duration::from_secs(2);
/// The schedulers' session timeout: a cut-off leader's session expires after it.
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
/// Terms of leadership a scheduler serves at most, and how long it waits for one.
const MAX_TERMS: usize = 6;
const CAMPAIGN: Duration = Duration::from_secs(30);
/// When the scenario stops waiting for the schedulers (virtual time).
const SCENARIO_LIMIT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// The service under test. In a real project it lives in your library; the recorder calls are
// what a test needs to see (here passed in as a `Participant`).
// ---------------------------------------------------------------------------------------------

/// How a leader claims a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// A write fenced by the leadership, at the version read: correct.
    Fenced,
    /// A plain write: the planted bug.
    Unfenced,
}

/// One scheduler: serves terms of leadership until no job is pending.
async fn scheduler(client: &Client, claim: Claim, me: &Participant) {
    let Ok(election) = Election::new(client.clone(), "/scheduler/leader", me.name().as_bytes()) else {
        return;
    };
    for _ in 0..MAX_TERMS {
        if matches!(pending_jobs(client).await, Ok(jobs) if jobs.is_empty()) {
            return;
        }
        let Ok(Some(leadership)) = election.campaign_timeout(CAMPAIGN).await else { continue };
        me.record(Event::leadership("scheduler", Lead::Leader));
        lead(client, &leadership, claim, me).await;
        me.record(Event::leadership("scheduler", Lead::NotLeader));
        let _ = leadership.resign().await;
    }
}

/// A term: runs the jobs pending when it began, one by one, each once claimed.
async fn lead(client: &Client, leadership: &Leadership, claim: Claim, me: &Participant) {
    let Ok(jobs) = pending_jobs(client).await else { return };
    for (job, version) in jobs {
        let path = format!("/jobs/{job}");
        let claimed = match claim {
            Claim::Fenced => leadership.fenced(&[Op::set_data(&path, b"claimed", Some(version))]).await,
            Claim::Unfenced => {
                client.set_data(&path, b"claimed", None).await.map(|_| Vec::new()).map_err(Into::into)
            }
        };
        match claimed {
            Ok(_) => {}
            Err(e) if e.is_session_ended() => {
                me.record(Event::leadership("scheduler", Lead::Lost));
                return;
            }
            Err(_) => continue, // claimed by someone else, or unknown: not ours to run
        }
        me.record(Event::queue("jobs", &job, QueueStep::Delivered));
        sleep(JOB_TIME).await; // the job's work
        me.record(Event::queue("jobs", &job, QueueStep::Acked));
        let _ = client.set_data(&path, b"done", None).await;
    }
}

/// The jobs still pending, with the version at which they were read.
async fn pending_jobs(client: &Client) -> zk_core::Result<Vec<(String, i32)>> {
    let mut pending = Vec::new();
    let mut jobs = client.get_children("/jobs").await?;
    jobs.sort();
    for job in jobs {
        let (data, stat) = client.get_data(&format!("/jobs/{job}")).await?;
        if data == b"pending" {
            pending.push((job, stat.version));
        }
    }
    Ok(pending)
}

// ---------------------------------------------------------------------------------------------
// The property test: a scenario per variant, the runner, and what it prints.
// ---------------------------------------------------------------------------------------------

/// The correct scheduler as a scenario: a plain `async fn` of the runner's shape.
async fn correct(server: &TestServer, plan: &FaultPlan, recorder: &Recorder) -> Result<(), Violation> {
    scenario(server, plan, recorder, Claim::Fenced).await
}

/// The planted bug as a scenario.
async fn buggy(server: &TestServer, plan: &FaultPlan, recorder: &Recorder) -> Result<(), Violation> {
    scenario(server, plan, recorder, Claim::Unfenced).await
}

/// Puts the jobs, runs the schedulers beside the plan, and checks that no job ran twice.
async fn scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
    claim: Claim,
) -> Result<(), Violation> {
    let mut clients = Vec::new();
    for _ in 0..SCHEDULERS {
        let connect = server.client_builder().session_timeout(SESSION_TIMEOUT).connect();
        clients.push(connect.await.expect("an in-process client connects"));
    }
    let setup = recorder.participant("setup");
    clients[0].create("/jobs", b"", CreateMode::Persistent).await.expect("/jobs is created");
    for n in 0..JOBS {
        let job = format!("job-{n}");
        clients[0].create(&format!("/jobs/{job}"), b"pending", CreateMode::Persistent).await.expect("a job");
        setup.record(Event::queue("jobs", &job, QueueStep::Put));
    }
    let schedulers = clients.iter().enumerate().map(|(i, client)| async move {
        scheduler(client, claim, &recorder.participant(&format!("scheduler-{i}"))).await;
    });
    let run = async { tokio::join!(plan.apply(server, &clients), join_all(schedulers)) };
    // Bounded: a scheduler that waits for ever is stopped here, and the history checked.
    let _ = timeout(SCENARIO_LIMIT, run).await;
    at_most_once(&recorder.history())
}

fn main() -> ExitCode {
    let buggy_mode = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => false,
        [flag] if flag == "--buggy" => true,
        _ => {
            eprintln!("usage: property_test [--buggy]   (ZK_PROP_SEEDS sets the number of seeds)");
            return ExitCode::from(2);
        }
    };
    // Plans of 2 to 12 faults over the first 20 s, aimed at the three schedulers.
    let plans = FaultPlanConfig {
        participants: SCHEDULERS,
        faults: 2..=12,
        horizon: Duration::from_secs(20),
        ..FaultPlanConfig::default()
    };
    let runner = Runner::new().config(plans);
    if buggy_mode {
        // Plain async fns are scenarios as they are: no adapter.
        match runner.run(buggy) {
            Err(failure) => caught(&failure),
            Ok(stats) => {
                eprintln!("the planted bug went unnoticed: {stats}");
                ExitCode::FAILURE
            }
        }
    } else {
        match runner.run(correct) {
            Ok(stats) => {
                println!("the scheduler ran each job at most once under every plan: {stats}");
                ExitCode::SUCCESS
            }
            Err(failure) => {
                eprintln!("{failure}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Prints the caught bug: the shrunk plan first, then the full report.
fn caught(failure: &Failure) -> ExitCode {
    println!(
        "caught the planted bug at seed {}: a plan of {} faults shrank to {}:\n\n{}\n",
        failure.original.seed,
        failure.original.plan.len(),
        failure.minimal.plan.len(),
        failure.minimal.plan
    );
    println!("the runner's report:\n\n{failure}");
    ExitCode::SUCCESS
}
