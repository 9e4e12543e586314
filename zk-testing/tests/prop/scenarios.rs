//! The scenarios the tests run: a broken mutex (the planted bug) and a correct
//! compare-and-set counter.

use std::time::Duration;

use futures::future::join_all;
use tokio::time::sleep;
use zk_core::{Client, CreateMode, Error};
use zk_testing::check::{
    counter_exact, mutual_exclusion, Event, Op, Outcome, Participant, Recorder, Value, Violation,
};
use zk_testing::{FaultPlan, FaultPlanConfig, TestServer};

/// The broken mutex's session timeout: shorter than its critical section.
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a holder works in its critical section.
const WORK: Duration = Duration::from_secs(10);
/// How often a waiter tries again.
const POLL: Duration = Duration::from_millis(250);
/// Tries to take the lock before giving up.
const MAX_TRIES: usize = 200;

/// `n` in-process clients with the short session timeout.
pub(crate) async fn clients(server: &TestServer, n: usize) -> Vec<Client> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let connect = server.client_builder().session_timeout(SESSION_TIMEOUT).connect();
        clients.push(connect.await.expect("an in-process client connects"));
    }
    clients
}

/// The planted bug: a "mutex" that is an ephemeral `/lock`, held, its holder believes, until
/// it deletes it. It never watches its session, so a holder whose session expires (its node
/// with it) goes on working while the next one holds the lock. Three workers, two turns
/// each.
pub(crate) async fn broken_mutex(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    let clients = clients(server, 3).await;
    let workers =
        clients.iter().enumerate().map(|(i, zk)| mutex_worker(zk, recorder.participant(&format!("w{i}"))));
    tokio::join!(plan.apply(server, &clients), join_all(workers));
    mutual_exclusion(&recorder.history())
}

async fn mutex_worker(zk: &Client, me: Participant) {
    for _ in 0..2 {
        if !take_lock(zk).await {
            return;
        }
        me.record(Event::acquired("lock"));
        sleep(WORK).await;
        me.record(Event::released("lock"));
        let _ = zk.delete("/lock", None).await;
        sleep(POLL).await;
    }
}

/// Creates `/lock` until it works (a bounded number of tries).
async fn take_lock(zk: &Client) -> bool {
    for _ in 0..MAX_TRIES {
        if zk.create("/lock", b"", CreateMode::Ephemeral).await.is_ok() {
            return true;
        }
        sleep(POLL).await;
    }
    false
}

/// Plans for the broken mutex: 10 to 14 faults over its three workers.
pub(crate) fn many_faults() -> FaultPlanConfig {
    FaultPlanConfig { participants: 3, faults: 10..=14, ..FaultPlanConfig::default() }
}

/// A correct scenario: three clients increment `/n` with compare-and-set, 8 times each, one
/// every 3 s (so that the faults of a 30 s plan fall among them); the final value must be
/// the increments that succeeded plus some of the ambiguous ones.
pub(crate) async fn cas_counter(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    let clients = clients(server, 3).await;
    clients[0].create("/n", b"0", CreateMode::Persistent).await.expect("the counter is created");
    let workers = clients.iter().enumerate().map(|(i, zk)| async move {
        let me = recorder.participant(&format!("c{i}"));
        for _ in 0..8 {
            let _ = increment(zk, &me).await;
            sleep(Duration::from_secs(3)).await;
        }
    });
    tokio::join!(plan.apply(server, &clients), join_all(workers));
    // A new session reads the result (the participants' may be cut off by the last faults),
    // retrying, as a fault armed last (a lost reply) may hit this read.
    let reader = server.client().await.expect("a reader connects");
    let (data, _) = reader.retrying().get_data("/n").await.expect("the counter is read");
    counter_exact(&recorder.history(), "/n", 0, parse(&data))
}

/// One compare-and-set increment, recorded; `Err` when the read failed (nothing to record).
async fn increment(zk: &Client, me: &Participant) -> Result<(), Error> {
    let (data, stat) = zk.get_data("/n").await?;
    let op = me.invoke(Op::add("/n", 1));
    let set = zk.set_data("/n", (parse(&data) + 1).to_string().as_bytes(), Some(stat.version)).await;
    let outcome = match &set {
        // Another client's increment came first: this one was not applied.
        Err(Error::BadVersion) => Outcome::Failed("bad version".into()),
        other => Outcome::of(other, |_| Value::Done),
    };
    me.returned(op, outcome);
    Ok(())
}

fn parse(data: &[u8]) -> i64 {
    String::from_utf8_lossy(data).parse().unwrap_or(i64::MIN)
}
