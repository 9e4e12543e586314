//! The master/standby pair of issue 11, on the embedded server with a paused clock: two
//! participants, each on its own (renewing) client, run [`run_while_leader`] through 100
//! faults of the leader's session and 100 of the standby's, drawn from a seeded RNG
//! (`ZK_TEST_SEED`): expiries (instant) and partitions longer than the session timeout (most
//! outlast the session on the server; the others are shorter than the timeout rounded up to
//! the server's tick, and the session comes back).
//!
//! Every term makes fenced writes ([`LeaderToken::fenced`]): each sets the owner of one
//! shared node and leaves a sequential node naming its term, so the server keeps the whole
//! history of what it applied, acknowledged or not. The tests check that leadership always
//! comes back in time, that a fault of the standby leaves the leader's term alone, that
//! every acknowledged write was made inside its term, that the server applied every write in
//! term order and before the next term began, and that a term's token fails (and writes
//! nothing) once the term is over. Under the standard policy the terms' work never
//! overlaps; under the session-based one it does (a partitioned leader learns late), and the
//! fenced writes still never do.
//!
//! A write in flight when a term ends may land after the end its work saw (a partitioned
//! leader's request delivered when the partition heals, its session and node still
//! standing), never after the next term began: see [`Late`].

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};
use zk_core::{Client, CreateMode, Op, OpResult};
use zk_recipes::{run_while_leader, ConnectionPolicy, Election, Error, LeaderToken, Result, StandbyReport};
use zk_testing::TestServer;

const PATH: &str = "/ha/election";
/// Every term's fenced writes set it to `<participant> <term node>`.
const SHARED: &str = "/ha/owner";
/// Each fenced write also creates `w-<seq>` here, holding its term's index in the log.
const WRITES: &str = "/ha/writes";
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
const FAULTS_PER_ROLE: usize = 100;
/// Leadership is back this soon after any fault: a partitioned leader's session expires on
/// the server within a session timeout plus a tick (2 s) of its last ping, and a partition
/// the session outlives is no longer than that (then the leader resigns on reconnecting).
const BACK_WITHIN: Duration = Duration::from_secs(12);
/// The pair is whole again (both connected, both in the election) this soon after a fault
/// ends.
const WHOLE_WITHIN: Duration = Duration::from_secs(20);
const WRITE_EVERY: Duration = Duration::from_millis(250);
const MAX_WRITES_PER_TERM: usize = 100_000;
const LEADER: usize = 0;
const STANDBY: usize = 1;
const DEFAULT_SEED: u64 = 11;

/// The root seed: `ZK_TEST_SEED`, else a fixed one. The server prints it when a test panics.
fn seed() -> u64 {
    std::env::var("ZK_TEST_SEED").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(DEFAULT_SEED)
}

/// splitmix64: the faults' RNG, derived from the root seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Expire,
    Partition(Duration),
}

/// One term as its work saw it: from the work's first poll to its drop.
#[derive(Debug)]
struct TermLog {
    who: usize,
    token: LeaderToken,
    start: Instant,
    end: Option<Instant>,
    /// Whether the test has tried a fenced write with the token after the term ended.
    stale_checked: bool,
    /// A fenced write was sent and not answered yet (when the term ends: dropped in flight,
    /// it may or may not have been applied).
    in_flight: bool,
}

/// One successful fenced write.
#[derive(Debug)]
struct WriteLog {
    term: usize,
    sent: Instant,
    acked: Instant,
    /// The sequential node it created.
    node: String,
}

#[derive(Debug, Default)]
struct Log {
    terms: Vec<TermLog>,
    writes: Vec<WriteLog>,
    /// Fenced writes of a running term that failed (the term was ending under them).
    failed: Vec<(usize, Error)>,
    /// Terms that started while another was still running (in the order events happened).
    overlaps: Vec<(usize, usize)>,
}

type Shared = Arc<Mutex<Log>>;

fn lock(log: &Shared) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Log {
    fn open(&mut self, who: usize, token: &LeaderToken) -> usize {
        let term = self.terms.len();
        if let Some(other) = self.running() {
            self.overlaps.push((other, term));
        }
        let start = Instant::now();
        let token = token.clone();
        self.terms.push(TermLog { who, token, start, end: None, stale_checked: false, in_flight: false });
        term
    }

    /// The running term, if exactly one is running.
    fn only_running(&self) -> Option<usize> {
        let mut running = self.terms.iter().enumerate().filter(|(_, t)| t.end.is_none()).map(|(i, _)| i);
        running.next().filter(|_| running.next().is_none())
    }

    /// The running term, if any (the last one that started and has not ended).
    fn running(&self) -> Option<usize> {
        self.terms.iter().rposition(|t| t.end.is_none())
    }

    fn wrote(&mut self, term: usize, sent: Instant, r: Result<Vec<OpResult>>) {
        self.terms[term].in_flight = false;
        match r {
            Ok(results) => match results.as_slice() {
                [OpResult::Create { path, .. }, OpResult::SetData { .. }] => {
                    let acked = Instant::now();
                    self.writes.push(WriteLog { term, sent, acked, node: path.clone() });
                }
                other => panic!("term {term}: unexpected results {other:?}"),
            },
            Err(e) => self.failed.push((term, e)),
        }
    }
}

/// Marks its term ended when the work future is dropped (leadership lost or shutdown).
struct EndOnDrop(Shared, usize);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        lock(&self.0).terms[self.1].end = Some(Instant::now());
    }
}

/// The ops of one fenced write of term `term`.
fn write_ops(term: &str, owner: &str) -> [Op; 2] {
    [
        Op::create(&format!("{WRITES}/w-"), term.as_bytes(), CreateMode::PersistentSequential),
        Op::set_data(SHARED, owner.as_bytes(), None),
    ]
}

/// The master's work: a fenced write of its ownership every [`WRITE_EVERY`].
async fn term_work(who: usize, token: LeaderToken, log: Shared) {
    let term = lock(&log).open(who, &token);
    let _end = EndOnDrop(log.clone(), term);
    let ops = write_ops(&term.to_string(), &format!("{who} {}", token.node()));
    for _ in 0..MAX_WRITES_PER_TERM {
        let sent = Instant::now();
        lock(&log).terms[term].in_flight = true;
        let r = token.fenced(&ops).await;
        lock(&log).wrote(term, sent, r);
        sleep(WRITE_EVERY).await;
    }
    std::future::pending::<()>().await;
}

async fn participant(
    who: usize,
    election: Election,
    log: Shared,
    mut stop: watch::Receiver<bool>,
) -> StandbyReport {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    run_while_leader(&election, shutdown, |token| term_work(who, token, log.clone())).await
}

/// Waits until the pair is whole: one term running, both clients connected, both in the
/// election on their current sessions. Returns the running term.
async fn whole_pair(server: &TestServer, clients: &[Client], log: &Shared, round: usize) -> usize {
    let deadline = Instant::now() + WHOLE_WITHIN;
    // Bounded by the deadline: one look every 20 ms.
    loop {
        let owners: Vec<i64> = server
            .children(PATH)
            .iter()
            .filter_map(|c| server.node(c))
            .map(|n| n.stat.ephemeral_owner)
            .collect();
        let running = lock(log).only_running();
        let joined = clients.iter().all(|c| c.state().is_connected() && owners.contains(&c.session_id()));
        match running {
            Some(term) if joined && owners.len() == clients.len() => return term,
            _ if Instant::now() >= deadline => {
                let states: Vec<_> = clients.iter().map(|c| (c.status(), c.session_id())).collect();
                panic!("round {round}: the pair is not whole {WHOLE_WITHIN:?} on: running {running:?}, owners {owners:x?}, clients {states:?}");
            }
            _ => sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Tries a fenced write with the token of every term that has ended since the last call:
/// each must fail with `LockLost`. Returns how many were tried.
async fn check_stale_tokens(log: &Shared) -> usize {
    let stale: Vec<(usize, LeaderToken)> = lock(log)
        .terms
        .iter_mut()
        .enumerate()
        .filter(|(_, t)| t.end.is_some() && !t.stale_checked)
        .map(|(i, t)| {
            t.stale_checked = true;
            (i, t.token.clone())
        })
        .collect();
    for (term, token) in &stale {
        let r = token.fenced(&write_ops("stale", "stale")).await;
        assert_eq!(r, Err(Error::LockLost), "term {term}: a fenced write after the term ended");
    }
    stale.len()
}

#[derive(Debug, Default)]
struct Numbers {
    /// By role ([`LEADER`], [`STANDBY`]), then kind (expiry, partition).
    faults: [[usize; 2]; 2],
    /// Partitions that outlasted the session on the server (the victim's epoch moved on); the
    /// others were shorter than the session timeout rounded up to the server's tick.
    partitions_expired: usize,
    /// Leader faults after which the standby took over, and after which the leader kept its
    /// term (a partition its session survived, under the session-based policy).
    handovers: usize,
    kept: usize,
    /// From a leader fault to the successor's term (max, sum over handovers).
    back_max: Duration,
    back_sum: Duration,
    /// From the old term's end (as its work saw it) to the successor's start.
    gap_max: Duration,
    stale_checked: usize,
}

/// One fault on the session of `client`; returns when it started.
fn inject(server: &TestServer, client: &Client, fault: Fault) -> Instant {
    let sid = client.session_id();
    let ok = match fault {
        Fault::Expire => server.expire_session(sid),
        Fault::Partition(d) => server.partition_session(sid, d),
    };
    assert!(ok, "no session {sid:#x} on the server");
    Instant::now()
}

/// The pair on a fresh server: the participants' clients and run tasks, and the log.
struct Pair {
    server: TestServer,
    clients: Vec<Client>,
    runs: Vec<tokio::task::JoinHandle<StandbyReport>>,
    stop: watch::Sender<bool>,
    log: Shared,
    /// The virtual instant node times count from.
    t0: Instant,
}

async fn start_pair(seed: u64, policy: ConnectionPolicy) -> Pair {
    let t0 = Instant::now();
    let server = TestServer::builder().no_tcp().seed(seed).epoch_ms(0).start().await.expect("server starts");
    let admin = server.client().await.expect("connects");
    for path in ["/ha", SHARED, WRITES] {
        admin.create(path, b"", CreateMode::Persistent).await.unwrap();
    }
    let log = Shared::default();
    let (stop, stop_rx) = watch::channel(false);
    let (mut clients, mut runs) = (Vec::new(), Vec::new());
    for who in 0..2 {
        let client =
            server.client_builder().session_timeout(SESSION_TIMEOUT).connect().await.expect("connects");
        let election =
            Election::new(client.clone(), PATH, format!("p{who}").as_bytes()).unwrap().with_policy(policy);
        runs.push(tokio::spawn(participant(who, election, log.clone(), stop_rx.clone())));
        clients.push(client);
    }
    Pair { server, clients, runs, stop, log, t0 }
}

/// Injects `2 * FAULTS_PER_ROLE` faults drawn from `seed`, one at a time, each once the
/// pair is whole again, and checks after each that leadership came back in time.
async fn run_faults(pair: &Pair, seed: u64, policy: ConnectionPolicy) -> Numbers {
    let (server, clients, log) = (&pair.server, &pair.clients, &pair.log);
    let mut rng = SplitMix64(seed);
    let mut n = Numbers::default();
    let mut left = [FAULTS_PER_ROLE; 2];
    for round in 0..2 * FAULTS_PER_ROLE {
        let term = whole_pair(server, clients, log, round).await;
        let leader = lock(log).terms[term].who;
        sleep(rng.millis(100, 1500)).await;
        let role = if rng.below((left[0] + left[1]) as u64) < left[LEADER] as u64 { LEADER } else { STANDBY };
        left[role] -= 1;
        let fault = match rng.below(2) {
            0 => Fault::Expire,
            _ => Fault::Partition(SESSION_TIMEOUT + rng.millis(500, 4000)),
        };
        n.faults[role][usize::from(fault != Fault::Expire)] += 1;
        let victim = if role == LEADER { leader } else { 1 - leader };
        let epoch = clients[victim].status().epoch;
        let at = inject(server, &clients[victim], fault);
        if let Fault::Partition(d) = fault {
            sleep_until(at + d).await;
        }
        let running = whole_pair(server, clients, log, round).await;
        let expired = clients[victim].status().epoch != epoch;
        n.partitions_expired += usize::from(expired && fault != Fault::Expire);
        if role == STANDBY {
            assert_eq!(running, term, "round {round}: a fault of the standby left the leader's term alone");
        } else if running == term {
            // Only a session-based leader whose session outlived the partition keeps its term.
            assert!(
                policy == ConnectionPolicy::SessionBased && !expired,
                "round {round}: the leader kept its term"
            );
            n.kept += 1;
        } else {
            let log = lock(log);
            let (old, next) = (&log.terms[term], &log.terms[term + 1]);
            assert_eq!(next.who, 1 - leader, "round {round}: the standby takes over");
            let back = next.start - at;
            assert!(back <= BACK_WITHIN, "round {round}: leadership back {back:?} after {fault:?}");
            n.handovers += 1;
            n.back_max = n.back_max.max(back);
            n.back_sum += back;
            n.gap_max = n.gap_max.max(next.start.saturating_duration_since(old.end.expect("ended")));
        }
        n.stale_checked += check_stale_tokens(log).await;
    }
    n
}

/// Stops the pair and checks the reports, the terms and the writes; prints the numbers.
async fn stop_and_check(
    pair: Pair,
    mut n: Numbers,
    seed: u64,
    policy: ConnectionPolicy,
    wall: std::time::Instant,
) {
    pair.stop.send(true).unwrap();
    let mut reports = Vec::new();
    for r in pair.runs {
        reports.push(tokio::time::timeout(Duration::from_secs(30), r).await.expect("stops").unwrap());
    }
    n.stale_checked += check_stale_tokens(&pair.log).await;
    let log = lock(&pair.log);
    check_reports(&reports, &log);
    let overlap = check_terms(&log, policy);
    let (applied, late) = check_writes(&log, &pair.server, pair.t0);
    let ms = |d: Duration| d.as_millis();
    let first = log.terms[0].start;
    let virtual_s = log.terms.iter().filter_map(|t| t.end).max().map_or(0, |e| (e - first).as_secs());
    eprintln!(
        "{{\"test\":\"ha_pair\",\"policy\":\"{policy:?}\",\"seed\":{seed},\"faults\":{{\"leader\":{{\"expire\":{},\
         \"partition\":{}}},\"standby\":{{\"expire\":{},\"partition\":{}}}}},\"partitions_expired\":{},\
         \"handovers\":{},\"kept\":{},\"terms\":{},\"fenced_ok\":{},\"fenced_failed\":{},\"of_them_lock_lost\":{},\"fenced_applied\":{applied},\
         \"applied_after_term_end\":{},\"late_max_ms\":{},\"stale_checked\":{},\"back_max_ms\":{},\
         \"back_mean_ms\":{},\"gap_max_ms\":{},\"work_overlaps\":{},\"overlap_max_ms\":{},\"virtual_s\":{virtual_s},\
         \"wall_ms\":{}}}",
        n.faults[LEADER][0],
        n.faults[LEADER][1],
        n.faults[STANDBY][0],
        n.faults[STANDBY][1],
        n.partitions_expired,
        n.handovers,
        n.kept,
        log.terms.len(),
        log.writes.len(),
        log.failed.len(),
        log.failed.iter().filter(|(_, e)| *e == Error::LockLost).count(),
        late.count,
        late.max_ms,
        n.stale_checked,
        ms(n.back_max),
        ms(n.back_sum / u32::try_from(n.handovers.max(1)).unwrap()),
        ms(n.gap_max),
        overlap.0,
        ms(overlap.1),
        wall.elapsed().as_millis(),
    );
}

/// The acceptance test with the default [`ConnectionPolicy::Standard`], as
/// `examples/ha_master.rs` runs: a leader gives up its term on a disconnect, before the server
/// can expire its session, so the terms' work never overlaps, in virtual time nor in the
/// order things happened.
#[tokio::test(start_paused = true)]
async fn ha_pair_survives_100_leader_and_100_standby_session_faults() {
    let (seed, wall) = (seed(), std::time::Instant::now());
    let policy = ConnectionPolicy::Standard;
    let pair = start_pair(seed, policy).await;
    let n = run_faults(&pair, seed, policy).await;
    stop_and_check(pair, n, seed, policy, wall).await;
}

/// The same under [`ConnectionPolicy::SessionBased`]: a partitioned leader keeps running its
/// work until it hears that its session expired, after its successor was elected, so the
/// work of two terms overlaps. Fencing is what keeps the pair safe then: the server applied
/// every fenced write inside its term and before the next term began, in term order.
#[tokio::test(start_paused = true)]
async fn session_based_pair_overlaps_in_work_but_never_in_fenced_writes() {
    let (seed, wall) = (seed(), std::time::Instant::now());
    let policy = ConnectionPolicy::SessionBased;
    let pair = start_pair(seed, policy).await;
    let n = run_faults(&pair, seed, policy).await;
    stop_and_check(pair, n, seed, policy, wall).await;
}

/// No standby stopped early, and each ran the terms the work saw.
fn check_reports(reports: &[StandbyReport], log: &Log) {
    for (who, report) in reports.iter().enumerate() {
        assert_eq!(report.error, None, "p{who} stopped: {:?}", report.error);
        let seen = log.terms.iter().filter(|t| t.who == who).count();
        assert_eq!(report.terms.len(), seen, "p{who}: the report's terms are the work's");
    }
}

/// Under the standard policy terms never overlap: not in the order events happened, nor in
/// virtual time. Under the session-based policy they may (a partitioned leader learns late);
/// returns how many overlapped and the longest overlap.
fn check_terms(log: &Log, policy: ConnectionPolicy) -> (usize, Duration) {
    let (mut count, mut longest) = (0, Duration::ZERO);
    for (i, pair) in log.terms.windows(2).enumerate() {
        let end = pair[0].end.expect("every term ended at shutdown");
        if end > pair[1].start {
            count += 1;
            longest = longest.max(end - pair[1].start);
        }
        if policy == ConnectionPolicy::Standard {
            assert!(
                end <= pair[1].start,
                "terms {i} and {} overlap: ended {end:?}, next began {:?}",
                i + 1,
                pair[1].start
            );
        }
    }
    if policy == ConnectionPolicy::Standard {
        assert_eq!(log.overlaps, Vec::new(), "(running, started) terms overlapping");
    }
    (count, longest)
}

/// Every acknowledged fenced write was made inside its term; the server applied every write
/// (acknowledged or not) in term order, each after its term began and before the next one
/// began; and nothing else was written (no stale write landed). Returns how many were
/// applied, and how many of them after their term had ended (see [`Late`]).
fn check_writes(log: &Log, server: &TestServer, t0: Instant) -> (usize, Late) {
    for w in &log.writes {
        let t = &log.terms[w.term];
        assert!(t.start <= w.sent && Some(w.acked) <= t.end, "a write of term {} outside it", w.term);
    }
    let ms = |at: Instant| i64::try_from(at.duration_since(t0).as_millis()).unwrap();
    // The server's history, in the order it applied the writes (sequence order).
    let mut history = server.children(WRITES);
    history.sort();
    let (mut last_term, mut late) = (0, Late::default());
    for path in &history {
        let node = server.node(path).expect("a write node");
        let data = node.data.unwrap_or_default();
        let text = String::from_utf8_lossy(&data);
        let term: usize =
            text.parse().unwrap_or_else(|_| panic!("{path} holds {text:?}: a stale write landed"));
        assert!(term >= last_term, "{path} of term {term} applied after a write of term {last_term}");
        last_term = term;
        let t = &log.terms[term];
        let next = log.terms.get(term + 1).map_or(t.end.expect("ended"), |n| n.start);
        let (start, end, next, at) = (ms(t.start), ms(t.end.expect("ended")), ms(next), node.stat.ctime);
        assert!(
            (start..=next).contains(&at),
            "{path} of term {term} applied at {at} ms, outside [{start}, {next}] ms (its term, until the next began)"
        );
        if at > end {
            late.count += 1;
            late.max_ms = late.max_ms.max(at - end);
        }
    }
    let acked = log.writes.len();
    // A write that failed with a connection loss, or was dropped in flight at the end of its
    // term, may have been applied unacknowledged.
    let unsure = log.failed.iter().filter(|(_, e)| e.is_retryable()).count()
        + log.terms.iter().filter(|t| t.in_flight).count();
    assert!(
        (acked..=acked + unsure).contains(&history.len()),
        "{} writes applied, {acked} acked, {unsure} unsure",
        history.len()
    );
    for w in &log.writes {
        assert!(history.contains(&w.node), "the acked write {} is on the server", w.node);
    }
    assert_ne!(server.node(SHARED).and_then(|n| n.data).as_deref(), Some(&b"stale"[..]));
    (history.len(), late)
}

/// Writes sent before their term ended (in flight when the work was dropped) that the server
/// applied afterwards: a partitioned leader's request delivered when the partition healed,
/// while its session and election node still stood, so before any successor led.
#[derive(Debug, Default)]
struct Late {
    count: usize,
    max_ms: i64,
}
