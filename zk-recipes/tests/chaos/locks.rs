//! The locks: [`InterProcessMutex`], [`InterProcessSemaphoreMutex`],
//! [`InterProcessReadWriteLock`] and [`InterProcessSemaphore`].
//!
//! Each participant, on its own client, takes the lock again and again for
//! [`WORK`] (the semaphores, whose acquisitions cost twice a mutex's, for [`SEMAPHORE_WORK`]),
//! and while it holds it makes one or two fenced writes, each leaving a node on
//! the server (the [`WriteLog`]). The moment its guard says `Suspended` or `Lost` its
//! critical section ends (the guard is dropped, which deletes the node in the background).
//! It records `Acquired` once the acquisition returned, `Released` before releasing, and
//! `Suspended`/`Lost` as its guard reports them.
//!
//! Checked: the holders' beliefs ([`mutual_exclusion`], [`at_most_holders`]) when the plan
//! has no adversarial fault (an `ExpireNow` ends a session under a client that believes it is
//! connected, so a successor may acquire before the old holder can know; only fences protect
//! then); the fenced writes, always: in the server's order no write of a deposed holder
//! follows its successor's; and the end state: once the faults are over, no lock node is
//! left.
//!
//! # Fixed: an acquisition that spans an expiry leaked its node
//!
//! When an acquisition's create was retried after a connection loss and landed on the
//! client's new session, the guard was `Lost` at once while its node lived on there, and
//! `release` left it: nobody acquired the lock again while that session lived, and the
//! semaphores (which release their internal mutex so) deadlocked. Seeds 900 (semaphore:
//! `at 2.342s: pause all for 1.739s; at 3.347s: expire client 2 now; at 4.27s: expire client 0`)
//! and 5838 (both: `at 4.126s: pause all for 919ms; at 4.978s: expire client 0 now`) showed
//! it, with 21 more of `0..10000`. Such an acquisition now fails with `SessionEnded` and its
//! node is deleted; the regression test is `locks/faults.rs`'
//! `an_acquisition_spanning_an_expiry_leaves_no_node`.

use std::time::Duration;

use tokio::time::{sleep, Instant};
use zk_core::proto::OpCode;
use zk_core::{Client, CreateMode, Op, OpResult};
use zk_recipes::{
    Error, InterProcessMutex, InterProcessReadWriteLock, InterProcessSemaphore, InterProcessSemaphoreMutex,
    Lease, LockStatus, MutexGuard, RwLockGuard, RwLockHandle, SemaphoreMutexGuard,
};
use zk_testing::check::{
    at_most_holders, mutual_exclusion, Checker, Event, History, Op as HOp, Outcome, Participant, Recorder,
    Value, Violation,
};
use zk_testing::{FaultPlan, FaultPlanConfig, FaultWeights, RequestMatcher, TestServer};

use crate::{
    check_seeds, clients, create_path, end_state, eventually, fence_by_hand, invoke_write, must_catch,
    record_write, scenario, settle, term_token, Rng, WriteLog,
};

const ROOT: &str = "/chaos/locks";
const LOCK: &str = "/chaos/locks/lock";
const WRITES: &str = "/chaos/locks/writes";
/// Where the broken lock of the negative controls keeps its nodes.
const NO_WAIT: &str = "/chaos/locks/nowait";
/// The lock's name in the history.
const NAME: &str = "lock";
const PARTICIPANTS: usize = 3;
/// How long the participants contend: the faults fall within the first 5 s, and a session
/// they expire is gone within 6 s (its timeout rounded up to the server's tick).
const WORK: Duration = Duration::from_secs(8);
/// As [`WORK`], for the semaphores: a session the faults expire is gone by then.
const SEMAPHORE_WORK: Duration = Duration::from_secs(6);
/// Rounds of a participant (each an acquisition attempt): a bound, never reached in [`WORK`].
const MAX_ROUNDS: usize = 1_000;
/// The leases of the semaphore scenario.
const LEASES: usize = 2;

/// The faults the lock scenarios draw: realistic ones, with some adversarial expiries, aimed
/// also at the lock's creates, deletes and transactions.
pub(crate) fn config(participants: usize) -> FaultPlanConfig {
    FaultPlanConfig {
        participants,
        faults: 1..=3,
        horizon: Duration::from_secs(5),
        durations: Duration::from_millis(100)..=Duration::from_secs(5),
        weights: FaultWeights { expire: 2, expire_now: 1, ..FaultWeights::default() },
        matchers: vec![
            RequestMatcher::any(),
            RequestMatcher::op(OpCode::Create2).path_prefix(ROOT),
            RequestMatcher::op(OpCode::Delete).path_prefix(ROOT),
            RequestMatcher::op(OpCode::Multi),
        ],
        ..FaultPlanConfig::default()
    }
}

/// True when the plan has a fault no real ensemble produces.
pub(crate) fn adversarial(plan: &FaultPlan) -> bool {
    plan.iter().any(|f| f.kind.is_adversarial())
}

/// A lock handle of any kind, and the broken one of the negative controls.
#[derive(Debug, Clone)]
enum Locker {
    Mutex(InterProcessMutex),
    SemaphoreMutex(InterProcessSemaphoreMutex),
    Rw(RwLockHandle),
    Semaphore(InterProcessSemaphore, Client),
    /// Broken on purpose: takes a node and never waits for anyone.
    NoWait(Client),
}

/// A held lock of any kind.
#[derive(Debug)]
enum Guard {
    Mutex(MutexGuard),
    SemaphoreMutex(SemaphoreMutexGuard),
    Rw(RwLockGuard),
    Lease(Lease, Client),
    NoWait { node: String, client: Client, epoch: u64 },
}

impl Locker {
    async fn acquire(&self, timeout: Duration) -> Result<Option<Guard>, Error> {
        Ok(match self {
            Locker::Mutex(m) => m.acquire_timeout(timeout).await?.map(Guard::Mutex),
            Locker::SemaphoreMutex(m) => m.acquire_timeout(timeout).await?.map(Guard::SemaphoreMutex),
            Locker::Rw(h) => h.acquire_timeout(timeout).await?.map(Guard::Rw),
            Locker::Semaphore(s, c) => s.acquire_timeout(timeout).await?.map(|l| Guard::Lease(l, c.clone())),
            Locker::NoWait(client) => {
                let epoch = client.status().epoch;
                let (node, _) =
                    client.create(&format!("{NO_WAIT}/n-"), b"", CreateMode::EphemeralSequential).await?;
                Some(Guard::NoWait { node, client: client.clone(), epoch })
            }
        })
    }
}

impl Guard {
    fn path(&self) -> &str {
        match self {
            Guard::Mutex(g) => g.path(),
            Guard::SemaphoreMutex(g) => g.path(),
            Guard::Rw(g) => g.path(),
            Guard::Lease(l, _) => l.path(),
            Guard::NoWait { node, .. } => node,
        }
    }

    async fn suspended(&self) -> LockStatus {
        match self {
            Guard::Mutex(g) => g.suspended().await,
            Guard::SemaphoreMutex(g) => g.suspended().await,
            Guard::Rw(g) => g.suspended().await,
            Guard::Lease(l, _) => l.suspended().await,
            Guard::NoWait { client, epoch, .. } => {
                let mut rx = client.state_watch();
                let not_held = |s: &zk_core::SessionStatus| LockStatus::of(*s, *epoch) != LockStatus::Held;
                rx.wait_for(not_held).await.map_or(LockStatus::Lost, |s| LockStatus::of(s, *epoch))
            }
        }
    }

    /// A write that applies only while the lock node stands.
    async fn fenced(&self, ops: &[Op]) -> Result<Vec<OpResult>, Error> {
        match self {
            Guard::Mutex(g) => g.fenced(ops).await,
            Guard::SemaphoreMutex(g) => g.fenced(ops).await,
            Guard::Rw(g) => g.fenced(ops).await,
            Guard::Lease(l, client) => fence_by_hand(client, l.path(), ops).await,
            Guard::NoWait { node, client, .. } => fence_by_hand(client, node, ops).await,
        }
    }

    async fn release(self) -> Result<(), Error> {
        match self {
            Guard::Mutex(g) => g.release().await,
            Guard::SemaphoreMutex(g) => g.release().await,
            Guard::Rw(g) => g.release().await,
            Guard::Lease(l, _) => l.release().await,
            Guard::NoWait { node, client, .. } => Ok(client.delete(&node, None).await?),
        }
    }
}

/// What the workload does wrong on purpose, for the negative controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// The "lock" never waits ([`Locker::NoWait`]).
    NoWait,
    /// A holder records its loss, then keeps writing, unfenced: a critical section that does
    /// not end when the lock is lost.
    WritesAfterLoss,
    /// The semaphore admits one holder more than it promises.
    ExtraLease,
    /// Readers read without taking the read lock (and so record no holding).
    ReadsWithoutLock,
    /// A holder forgets its guard (`mem::forget`): its node is never deleted.
    Leaks,
}

/// One way to take the lock: the handle, the names it holds in the history, and what its
/// writes say they are.
#[derive(Debug, Clone)]
struct Way {
    locker: Locker,
    names: Vec<String>,
    kind: &'static str,
}

/// One participant of a lock scenario.
#[derive(Debug)]
struct Contender<'a> {
    server: &'a TestServer,
    who: String,
    client: Client,
    p: Participant,
    ways: Vec<Way>,
    rng: Rng,
    log: WriteLog,
    bug: Bug,
}

impl Contender<'_> {
    /// Takes the lock over and over until `until`.
    async fn contend(mut self, until: Instant) {
        for _ in 0..MAX_ROUNDS {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let way = self.ways[self.rng.below(self.ways.len() as u64) as usize].clone();
            // The attempt, in the history for the reader (no checker reads it).
            let attempt = self.p.invoke(HOp::create(LOCK, way.kind.as_bytes()));
            match way.locker.acquire(left).await {
                Ok(Some(guard)) => {
                    self.p.ok(attempt, Value::Done);
                    self.hold(guard, &way).await
                }
                Ok(None) => self.p.failed(attempt, "timed out"),
                Err(e) => {
                    self.p.failed(attempt, e.to_string());
                    sleep(self.rng.millis(50, 500)).await
                }
            }
            sleep(self.rng.millis(200, 800)).await;
        }
    }

    /// The critical section: one or two fenced writes, ended at once by a suspension.
    async fn hold(&mut self, guard: Guard, way: &Way) {
        way.names.iter().for_each(|n| _ = self.p.record(Event::acquired(n)));
        let pauses: Vec<Duration> = (0..1 + self.rng.below(2)).map(|_| self.rng.millis(100, 1000)).collect();
        let token = term_token(self.server, guard.path());
        let who = format!("{} {}", self.who, way.kind);
        let work = async {
            for pause in pauses {
                fenced_write(&self.p, &guard, &self.log, token, &who).await;
                sleep(pause).await;
            }
        };
        let suspended = tokio::select! {
            biased;
            status = guard.suspended() => Some(status),
            () = work => None,
        };
        let Some(status) = suspended else {
            way.names.iter().for_each(|n| _ = self.p.record(Event::released(n)));
            if self.bug == Bug::Leaks {
                std::mem::forget(guard);
            } else {
                let _ = guard.release().await;
            }
            return;
        };
        let event = if status == LockStatus::Lost { Event::lost } else { Event::suspended };
        way.names.iter().for_each(|n| _ = self.p.record(event(n)));
        if self.bug == Bug::WritesAfterLoss {
            self.write_on(token, &who).await;
        }
        // Dropping the guard deletes its node in the background.
    }

    /// The bug of [`Bug::WritesAfterLoss`]: a write every 400 ms for eight seconds, unfenced.
    async fn write_on(&self, token: i64, who: &str) {
        for _ in 0..20 {
            sleep(Duration::from_millis(400)).await;
            let (op, id) = invoke_write(&self.p, &self.log, token, who);
            let r = self.client.multi(&[op]).await;
            self.p.returned(id, Outcome::of(&r, |_| Value::Done));
        }
    }
}

/// One fenced write, recorded.
async fn fenced_write(p: &Participant, guard: &Guard, log: &WriteLog, token: i64, who: &str) {
    let (op, id) = invoke_write(p, log, token, who);
    record_write(p, id, &guard.fenced(std::slice::from_ref(&op)).await);
}

/// Which lock a scenario drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recipe {
    Mutex,
    SemaphoreMutex,
    ReadWrite,
    Semaphore,
}

impl Recipe {
    fn participants(self) -> usize {
        PARTICIPANTS
    }

    fn work(self) -> Duration {
        match self {
            Recipe::Semaphore | Recipe::SemaphoreMutex => SEMAPHORE_WORK,
            _ => WORK,
        }
    }

    /// The ways participant `i` takes the lock.
    fn ways(self, bug: Bug, client: &Client, i: usize) -> Vec<Way> {
        let exclusive = |locker| Way { locker, names: vec![NAME.to_owned()], kind: "write" };
        let c = client.clone();
        match self {
            _ if bug == Bug::NoWait => vec![exclusive(Locker::NoWait(c))],
            Recipe::Mutex => vec![exclusive(Locker::Mutex(InterProcessMutex::new(c, LOCK).expect("path")))],
            Recipe::SemaphoreMutex => {
                vec![exclusive(Locker::SemaphoreMutex(
                    InterProcessSemaphoreMutex::new(c, LOCK).expect("path"),
                ))]
            }
            Recipe::ReadWrite => {
                let rw = InterProcessReadWriteLock::new(c.clone(), LOCK).expect("path");
                let others = (0..self.participants()).filter(|k| *k != i).map(|k| format!("p{k} reading"));
                let read = match bug {
                    Bug::ReadsWithoutLock => {
                        Way { locker: Locker::NoWait(c.clone()), names: vec![], kind: "read" }
                    }
                    _ => Way {
                        locker: Locker::Rw(rw.read_lock().clone()),
                        names: vec![format!("p{i} reading")],
                        kind: "read",
                    },
                };
                let write = Way {
                    locker: Locker::Rw(rw.write_lock().clone()),
                    names: std::iter::once("writers".to_owned()).chain(others).collect(),
                    kind: "write",
                };
                vec![read, write]
            }
            Recipe::Semaphore => {
                let leases = if bug == Bug::ExtraLease { LEASES + 1 } else { LEASES };
                let semaphore = InterProcessSemaphore::new(c.clone(), LOCK, leases).expect("path");
                vec![Way {
                    locker: Locker::Semaphore(semaphore, c),
                    names: vec![NAME.to_owned()],
                    kind: "lease",
                }]
            }
        }
    }

    /// What the holders believed: never more holders than allowed at once.
    fn beliefs(self, history: &History) -> Result<(), Violation> {
        match self {
            Recipe::Semaphore => at_most_holders(history, LEASES),
            _ => mutual_exclusion(history),
        }
    }

    /// What the fences let through, in the server's order.
    fn fences(self, server: &TestServer) -> Result<(), Violation> {
        let log = WriteLog::new(WRITES);
        match self {
            Recipe::Mutex | Recipe::SemaphoreMutex => log.check(server, Checker::MutualExclusion),
            Recipe::ReadWrite => check_read_write(&log, server),
            // Leases are held together: their writes may interleave.
            Recipe::Semaphore => Ok(()),
        }
    }
}

/// Readers and writers in the server's order: a write of token `w` comes after every write
/// of an earlier token and after every read of an earlier token, and before any read of a
/// later one (readers and writers queue on one sequence).
fn check_read_write(log: &WriteLog, server: &TestServer) -> Result<(), Violation> {
    // The latest token of each kind applied so far, and what it wrote.
    let mut last_write: Option<(i64, String)> = None;
    let mut last_read: Option<(i64, String)> = None;
    for (node, token, who) in log.applied(server) {
        let (before, what) = if who.ends_with(" read") {
            (last_write.as_ref().filter(|(w, _)| *w > token), "a read")
        } else {
            let newer_write = last_write.as_ref().filter(|(w, _)| *w > token);
            (newer_write.or(last_read.as_ref().filter(|(r, _)| *r > token)), "a write")
        };
        if let Some((later, by)) = before {
            return Err(crate::end_state(
                Checker::MutualExclusion,
                format!(
                    "read/write lock: {what} {node} by {who} (token {token}) was applied after {by} (token {later}), \
                     which queued after it: a reader and a writer held the lock together."
                ),
            ));
        }
        let slot = if who.ends_with(" read") { &mut last_read } else { &mut last_write };
        if slot.as_ref().is_none_or(|(t, _)| *t < token) {
            *slot = Some((token, format!("{node} by {who}")));
        }
    }
    Ok(())
}

/// The lock nodes (ephemerals) left under the lock path.
fn leftovers(server: &TestServer) -> Vec<String> {
    let prefix = format!("{LOCK}/");
    server
        .tree()
        .into_iter()
        .filter(|n| n.path.starts_with(&prefix) && n.stat.ephemeral_owner != 0)
        .map(|n| n.path)
        .collect()
}

/// The scenario of every lock: see the module docs.
async fn lock_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
    recipe: Recipe,
    bug: Bug,
) -> Result<(), Violation> {
    let clients = clients(server, recipe.participants()).await;
    create_path(&clients[0], LOCK).await;
    create_path(&clients[0], WRITES).await;
    create_path(&clients[0], NO_WAIT).await;
    let contenders = clients.iter().enumerate().map(|(i, client)| Contender {
        server,
        who: format!("p{i}"),
        client: client.clone(),
        p: recorder.participant(&format!("p{i}")),
        ways: recipe.ways(bug, client, i),
        rng: Rng::new(server, i as u64),
        log: WriteLog::new(WRITES),
        bug,
    });
    let start = Instant::now();
    let work = futures::future::join_all(contenders.map(|c| c.contend(start + recipe.work())));
    tokio::join!(work, plan.apply(server, &clients));
    settle(server, plan, start, Duration::from_secs(1)).await;
    if !adversarial(plan) {
        recipe.beliefs(&recorder.history())?;
    }
    recipe.fences(server)?;
    if !eventually(Duration::from_secs(30), Duration::from_millis(250), || leftovers(server).is_empty()).await
    {
        let owner = |path: &String| {
            let session = server.node(path).map_or(0, |n| n.stat.ephemeral_owner);
            let who = clients.iter().position(|c| c.session_id() == session);
            format!("{path} (session {session:#x}, client {who:?})")
        };
        let left: Vec<String> = leftovers(server).iter().map(owner).collect();
        let checker = if recipe == Recipe::Semaphore {
            Checker::AtMostHolders(LEASES)
        } else {
            Checker::MutualExclusion
        };
        return Err(end_state(checker, format!("lock nodes left behind 30 s after the faults: {left:?}")));
    }
    Ok(())
}

/// [`InterProcessMutex`]: one holder at a time; fenced writes never interleave.
pub(crate) async fn mutex_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    lock_scenario(server, plan, recorder, Recipe::Mutex, Bug::None).await
}

/// [`InterProcessSemaphoreMutex`]: as the mutex.
pub(crate) async fn semaphore_mutex_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    lock_scenario(server, plan, recorder, Recipe::SemaphoreMutex, Bug::None).await
}

/// [`InterProcessReadWriteLock`]: each round a participant reads or writes; writers are
/// exclusive, readers never hold with a writer.
pub(crate) async fn read_write_lock_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    lock_scenario(server, plan, recorder, Recipe::ReadWrite, Bug::None).await
}

/// [`InterProcessSemaphore`] of [`LEASES`] leases among three participants: at most
/// [`LEASES`] holders.
pub(crate) async fn semaphore_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    lock_scenario(server, plan, recorder, Recipe::Semaphore, Bug::None).await
}

async fn broken_no_wait_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    lock_scenario(server, plan, recorder, Recipe::Mutex, Bug::NoWait).await
}

async fn broken_writes_after_loss_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    lock_scenario(server, plan, recorder, Recipe::Mutex, Bug::WritesAfterLoss).await
}

async fn broken_reads_without_lock_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    lock_scenario(server, plan, recorder, Recipe::ReadWrite, Bug::ReadsWithoutLock).await
}

async fn broken_leaking_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    lock_scenario(server, plan, recorder, Recipe::Mutex, Bug::Leaks).await
}

async fn broken_extra_lease_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    lock_scenario(server, plan, recorder, Recipe::Semaphore, Bug::ExtraLease).await
}

#[test]
fn mutex() {
    check_seeds("mutex", scenario!(mutex_scenario), &config(PARTICIPANTS));
}

#[test]
fn semaphore_mutex() {
    check_seeds("semaphore_mutex", scenario!(semaphore_mutex_scenario), &config(PARTICIPANTS));
}

#[test]
fn read_write_lock() {
    check_seeds("read_write_lock", scenario!(read_write_lock_scenario), &config(PARTICIPANTS));
}

#[test]
fn semaphore() {
    check_seeds("semaphore", scenario!(semaphore_scenario), &config(PARTICIPANTS));
}

#[test]
fn negative_mutual_exclusion_catches_a_lock_that_does_not_wait() {
    let config = FaultPlanConfig { faults: 0..=0, ..config(PARTICIPANTS) };
    must_catch(
        "lock that does not wait",
        scenario!(broken_no_wait_scenario),
        &config,
        Checker::MutualExclusion,
        "",
    );
}

/// The suite on zk-testing's property runner: a broken lock fails under a plan of 6 to 8
/// faults, and the runner shrinks the plan to the empty one (the bug needs no fault).
#[test]
fn the_property_runner_shrinks_a_failing_plan() {
    let config = FaultPlanConfig { faults: 6..=8, ..config(PARTICIPANTS) };
    let runner = zk_testing::prop::Runner::new().seeds(1).config(config).virtual_limit(crate::SCENARIO_LIMIT);
    let broken: crate::Scenario = scenario!(broken_no_wait_scenario);
    let failure = runner.run(broken).expect_err("a lock that does not wait");
    assert!(failure.original.plan.len() >= 6, "{failure}");
    assert_eq!(failure.minimal.plan.len(), 0, "{failure}");
    assert!(!failure.minimal.passed(), "{failure}");
}

#[test]
fn negative_fenced_writes_catch_a_holder_writing_after_its_loss() {
    let config = FaultPlanConfig {
        faults: 2..=3,
        weights: FaultWeights { expire: 1, ..FaultWeights::none() },
        ..config(PARTICIPANTS)
    };
    must_catch(
        "holder writing after its loss",
        scenario!(broken_writes_after_loss_scenario),
        &config,
        Checker::MutualExclusion,
        "fenced writes interleave",
    );
}

#[test]
fn negative_at_most_holders_catches_an_extra_lease() {
    let config = FaultPlanConfig { faults: 0..=0, ..config(PARTICIPANTS) };
    must_catch(
        "semaphore with an extra lease",
        scenario!(broken_extra_lease_scenario),
        &config,
        Checker::AtMostHolders(LEASES),
        "",
    );
}

#[test]
fn negative_read_write_fences_catch_reads_without_the_lock() {
    let config = FaultPlanConfig { faults: 0..=0, ..config(PARTICIPANTS) };
    let control: crate::Scenario = scenario!(broken_reads_without_lock_scenario);
    must_catch("reads without the read lock", control, &config, Checker::MutualExclusion, "read/write lock");
}

#[test]
fn negative_leftover_check_catches_a_holder_that_never_releases() {
    let config = FaultPlanConfig { faults: 0..=0, ..config(PARTICIPANTS) };
    let control: crate::Scenario = scenario!(broken_leaking_scenario);
    must_catch("holder that never releases", control, &config, Checker::MutualExclusion, "left behind");
}
