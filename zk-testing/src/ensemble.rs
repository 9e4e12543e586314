//! [`TestEnsemble`]: an embedded ensemble of 3 or 5 members over one replicated history, on
//! tokio's clock.
//!
//! Each member is the standalone server's core ([`Core`]) with its own copy of the tree, its
//! own connections and watches; the ensemble adds what a quorum does:
//!
//! - **One history.** A member queues each transaction (write, session open and close, reap)
//!   for the leader ([`Commit::Queue`]); the ensemble appends it to the log and every member in
//!   the quorum applies the log in order, `lag` after the commit. A member answers reads from
//!   its own copy, so a lagging member's reads are stale until it catches up, and a `sync` makes
//!   it catch up before it answers. Replies to writes come from the client's own member when
//!   it applies them, and a connection's later requests wait behind its pending writes, as
//!   ZooKeeper's commit processor makes them.
//! - **A quorum and a leader.** A member serves while it is up, in touch with a majority and
//!   there is a leader. Killing, partitioning or restarting members changes that: a member that
//!   stops serving cuts its connections (its clients move to another member with the same
//!   session); without a majority nobody serves (a partitioned member serves read-only
//!   sessions from its copy when read-only mode is on); losing the leader stops every member
//!   until an election, `election` after a majority is together again. The new leader is the
//!   highest-numbered member of the majority (all of them hold the whole log); it starts a new
//!   epoch (the high 32 bits of later zxids) and renews every session's deadline, as a new
//!   leader's session tracker does.
//! - **Sessions** are one table, decided by the leader: expiry runs only while there is one.
//! - **The zxid check**: a member behind a client's last seen zxid refuses its handshake, as a
//!   real member does, so the client moves on.
//!
//! What it does not model: a member's log on disk (a killed member keeps what it applied and
//! catches up from the leader when it rejoins), observers, and dynamic reconfiguration.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zk_core::proto::ConnectRequest;
use zk_core::{Client, ClientBuilder};

use crate::server::conn::{accept_loop, serve_plain, ConnHandle, Endpoint, Flow, InProcess};
use crate::server::core::{Commit, Core, Txn, TxnOp};
use crate::server::inspect::{node_info, node_infos, session_infos};
use crate::server::{fourlw, Config};
use crate::sessions::{SessionTable, Sessions};
use crate::state::{ConnId, State};
use crate::{MemberMode, NodeInfo, SessionInfo, TestServer};

/// The host name in-process clients use for member `i`: `member-<i>:2181`.
fn host_name(i: usize) -> String {
    format!("member-{i}:2181")
}

/// The member a host name of [`host_name`] names.
fn member_of(host: &str) -> Option<usize> {
    host.strip_prefix("member-")?.split(':').next()?.parse().ok()
}

/// How many times one call settles the members' queues and backlogs before it leaves the rest
/// to the housekeeping task (each round handles what the last one produced).
const MAX_SETTLE_ROUNDS: usize = 10_000;

/// Settings of a [`TestEnsemble`], from [`TestEnsemble::builder`].
#[derive(Debug, Clone)]
pub struct TestEnsembleBuilder {
    size: usize,
    seed: Option<u64>,
    /// Per member, or drawn from the seed up to `random_lag` when `None`.
    lags: Vec<Option<Duration>>,
    random_lag: Duration,
    election: Duration,
    read_only: bool,
    tcp: bool,
    /// The settings every member shares (address and TLS are per member / unused).
    config: Config,
}

impl TestEnsembleBuilder {
    /// Members: 3 (the default) or 5; any other size is refused by [`Self::start`].
    pub fn size(mut self, n: usize) -> Self {
        self.size = n;
        self
    }

    /// The seed of every random choice: client jitter, session ids, lags drawn by
    /// [`Self::random_lag`] (default: `ZK_TEST_SEED`, else random; printed when a test panics).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Member `i` applies each transaction `lag` after its commit (default: at once).
    pub fn lag(mut self, member: usize, lag: Duration) -> Self {
        if member >= self.lags.len() {
            self.lags.resize(member + 1, None);
        }
        self.lags[member] = Some(lag);
        self
    }

    /// Members without a [`Self::lag`] draw theirs from the seed, uniformly up to `max`.
    pub fn random_lag(mut self, max: Duration) -> Self {
        self.random_lag = max;
        self
    }

    /// How long an election takes once a majority is together (default 200 ms).
    pub fn election(mut self, d: Duration) -> Self {
        self.election = d;
        self
    }

    /// Read-only mode (`readonlymode.enabled`): a member cut off from the majority serves
    /// read-only sessions from its own copy (default off).
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }

    /// No TCP listeners: in-process clients only.
    pub fn no_tcp(mut self) -> Self {
        self.tcp = false;
        self
    }

    /// The tick (default 2 s): sessions negotiate 2 to 20 ticks.
    pub fn tick(mut self, tick: Duration) -> Self {
        self.config.tick = tick;
        self
    }

    /// The release the members behave as (see [`crate::TestServerBuilder::version`]).
    pub fn version(mut self, version: crate::ServerVersion) -> Self {
        self.config.version = version;
        self
    }

    /// The wall clock (ms) at start, for reproducible ctime/mtime.
    pub fn epoch_ms(mut self, ms: i64) -> Self {
        self.config.epoch_ms = Some(ms);
        self
    }

    /// Starts the members, each on its own loopback port (unless [`Self::no_tcp`]), with
    /// member `size - 1` leading epoch 1.
    ///
    /// # Errors
    /// `InvalidInput` for a size other than 3 or 5; bind errors.
    pub async fn start(self) -> io::Result<TestEnsemble> {
        if self.size != 3 && self.size != 5 {
            let why = format!("an ensemble has 3 or 5 members, not {}", self.size);
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        let seed = self.seed.or_else(crate::server::seed_from_env).unwrap_or_else(rand::random);
        let mut rng = StdRng::seed_from_u64(seed);
        let start = Instant::now();
        let mut config = self.config.clone();
        config.seed = seed;
        let epoch_ms = config.epoch_ms.unwrap_or_else(crate::server::wall_ms);
        let sessions = SessionTable::new(Sessions::new(config.tick, start, &mut rng));
        let mut listeners = Vec::new();
        let mut slots = Vec::new();
        for i in 0..self.size {
            let mut member_config = config.clone();
            member_config.addr = None;
            if self.tcp {
                let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
                member_config.addr = Some(listener.local_addr()?);
                listeners.push(Some(listener));
            } else {
                listeners.push(None);
            }
            let lag = match self.lags.get(i).copied().flatten() {
                Some(lag) => lag,
                None if self.random_lag.is_zero() => Duration::ZERO,
                None => rng.random_range(Duration::ZERO..=self.random_lag),
            };
            let member_rng = StdRng::seed_from_u64(rng.random());
            let state = State::new(config.state_config());
            let mut core = Core::new(
                state,
                sessions.clone(),
                Commit::Queue(Vec::new()),
                member_rng,
                config.sasl_users.clone(),
            );
            // Connection ids are unique across the ensemble: a transaction names its origin.
            core.next_conn = (i as u64 + 1) << 40;
            slots.push(Slot {
                core,
                applied: 0,
                lag,
                alive: true,
                partitioned: false,
                config: member_config,
            });
        }
        let inner = Inner {
            members: slots,
            log: Vec::new(),
            sessions,
            leader: None,
            epoch: 0,
            election_at: Some(start),
            read_only: self.read_only,
            next_reap: start + config.reap_interval,
        };
        let ens = Arc::new(Ens {
            inner: Mutex::new(inner),
            config,
            election: self.election,
            start,
            epoch_ms,
            wake: Notify::new(),
            clients_made: AtomicU64::new(0),
            no_partitions: tokio::sync::watch::Sender::new(()),
        });
        // The first election is over before anyone connects.
        ens.lock().settle(&ens, start);
        let members: Vec<Arc<Member>> =
            (0..self.size).map(|idx| Arc::new(Member { ens: Arc::clone(&ens), idx })).collect();
        let mut tasks = Vec::new();
        for (member, listener) in members.iter().zip(listeners) {
            if let Some(listener) = listener {
                tasks.push(tokio::spawn(accept_loop(Arc::downgrade(member), listener, serve_plain)));
            }
        }
        tasks.push(tokio::spawn(housekeeping(Arc::downgrade(&ens))));
        Ok(TestEnsemble { ens, members, tasks })
    }
}

/// One member as the ensemble holds it.
#[derive(Debug)]
struct Slot {
    core: Core,
    /// How much of the log it has applied.
    applied: usize,
    lag: Duration,
    /// Its process runs.
    alive: bool,
    /// Cut off from the other members.
    partitioned: bool,
    config: Config,
}

impl Slot {
    fn in_quorum_reach(&self) -> bool {
        self.alive && !self.partitioned
    }
}

/// A committed transaction.
#[derive(Debug)]
struct Entry {
    txn: Txn,
    committed: Instant,
}

/// Everything behind the ensemble's one lock.
#[derive(Debug)]
struct Inner {
    members: Vec<Slot>,
    log: Vec<Entry>,
    sessions: SessionTable,
    leader: Option<usize>,
    epoch: u32,
    /// When the running election ends (`None`: there is a leader, or no majority to elect).
    election_at: Option<Instant>,
    read_only: bool,
    next_reap: Instant,
}

/// What the ensemble's handle, tasks and members share.
#[derive(Debug)]
struct Ens {
    inner: Mutex<Inner>,
    config: Config,
    election: Duration,
    start: Instant,
    epoch_ms: i64,
    /// Wakes the housekeeping task: a commit a lagging member must apply, a member's change.
    wake: Notify,
    clients_made: AtomicU64,
    /// Sessions are not partitioned one by one in an ensemble; connections hold on nothing.
    no_partitions: tokio::sync::watch::Sender<()>,
}

impl Ens {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now_ms(&self) -> i64 {
        self.epoch_ms + Instant::now().duration_since(self.start).as_millis() as i64
    }

    /// Runs `f` on the members at `now`, then settles the ensemble (commits what they queued,
    /// applies what is due) and wakes the housekeeping task.
    fn update<T>(&self, f: impl FnOnce(&mut Inner, Instant) -> T) -> T {
        let now = Instant::now();
        let mut inner = self.lock();
        let out = f(&mut inner, now);
        inner.settle(self, now);
        drop(inner);
        self.wake.notify_one();
        out
    }
}

impl Inner {
    fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }

    /// Members up and in touch with each other.
    fn reachable(&self) -> Vec<usize> {
        (0..self.members.len()).filter(|&i| self.members[i].in_quorum_reach()).collect()
    }

    /// What member `i` is now.
    fn mode(&self, i: usize) -> Option<MemberMode> {
        let m = &self.members[i];
        if !m.alive {
            return None;
        }
        Some(match self.leader {
            Some(l) if !m.partitioned && l == i => MemberMode::Leader,
            Some(_) if !m.partitioned => MemberMode::Follower,
            _ if m.partitioned && self.read_only => MemberMode::ReadOnly,
            _ => MemberMode::NotServing,
        })
    }

    /// Brings everything up to date at `now`: the leader and elections, who serves, the log
    /// applied where due, queued transactions committed, backlogs handled.
    fn settle(&mut self, ens: &Ens, now: Instant) {
        self.elect(ens, now);
        self.serve_modes();
        for _ in 0..MAX_SETTLE_ROUNDS {
            let committed = self.commit_queued(now, ens.now_ms());
            let applied = self.apply_due(ens, now);
            if !committed && !applied {
                break;
            }
        }
    }

    /// Loses the leader when it is no longer with a majority; elects one when a majority has
    /// been together for the election's length.
    fn elect(&mut self, ens: &Ens, now: Instant) {
        let reachable = self.reachable();
        let quorum = reachable.len() >= self.majority();
        if let Some(l) = self.leader {
            if quorum && reachable.contains(&l) {
                return;
            }
            tracing::debug!(leader = l, "test ensemble lost its leader");
            self.leader = None;
        }
        if !quorum {
            self.election_at = None;
            return;
        }
        let at = *self.election_at.get_or_insert(now + ens.election);
        if at > now {
            return;
        }
        // Every member of the majority holds the whole log: the highest id wins the vote.
        let leader = *reachable.last().expect("a majority is not empty");
        self.election_at = None;
        self.leader = Some(leader);
        self.epoch += 1;
        tracing::debug!(leader, epoch = self.epoch, "test ensemble elected a leader");
        let now_ms = ens.now_ms();
        self.log.push(Entry {
            txn: Txn { origin: None, op: TxnOp::NewEpoch(self.epoch), now_ms },
            committed: now,
        });
        // The followers sync with the new leader before serving.
        for i in reachable {
            self.catch_up(i, now, now_ms);
        }
        self.sessions.lock().renew_all(now);
    }

    /// Sets who serves, cutting the connections of a member whose service changed.
    fn serve_modes(&mut self) {
        for i in 0..self.members.len() {
            let mode = self.mode(i);
            let (up, read_only) = match mode {
                Some(MemberMode::Leader | MemberMode::Follower) => (true, false),
                Some(MemberMode::ReadOnly) => (true, true),
                _ => (false, false),
            };
            let core = &mut self.members[i].core;
            if core.up != up || core.read_only != read_only {
                core.up = up;
                core.read_only = read_only;
                core.kill_all();
            }
        }
    }

    /// Appends the transactions members queued to the log; true if there were any.
    ///
    /// A member cut off from the others (serving read-only) commits nothing: the sessions it
    /// opens are its own (answered at once, no zxid), and what else it queues (expiries of the
    /// one session table) goes to the log for the others.
    fn commit_queued(&mut self, now: Instant, now_ms: i64) -> bool {
        let mut any = false;
        for i in 0..self.members.len() {
            let Commit::Queue(out) = &mut self.members[i].core.commit else { continue };
            let txns = std::mem::take(out);
            let cut_off = !self.members[i].in_quorum_reach();
            let mut sync = false;
            for txn in txns {
                any = true;
                if let (true, TxnOp::CreateSession { connect }, Some(conn)) = (cut_off, &txn.op, txn.origin) {
                    let core = &mut self.members[i].core;
                    if let Some(c) = core.conns.get_mut(&conn) {
                        c.send(connect.clone(), now);
                    }
                    core.txn_applied(conn, Flow::Continue, now, now_ms);
                    continue;
                }
                sync |= matches!(txn.op, TxnOp::Sync { .. });
                self.log.push(Entry { txn, committed: now });
            }
            // A sync reaches the leader and comes back after everything committed before it.
            if sync {
                self.catch_up(i, now, now_ms);
            }
        }
        any
    }

    /// Applies, on every member following the leader, the entries whose lag has passed; true
    /// if any was.
    fn apply_due(&mut self, ens: &Ens, now: Instant) -> bool {
        if self.leader.is_none() {
            return false;
        }
        let mut any = false;
        for i in 0..self.members.len() {
            if !self.members[i].in_quorum_reach() {
                continue;
            }
            let lag = self.members[i].lag;
            while let Some(e) = self.log.get(self.members[i].applied) {
                if e.committed + lag > now {
                    break;
                }
                self.apply_entry(i, now, ens.now_ms());
                any = true;
            }
        }
        any
    }

    /// Member `i`, back in touch (restarted or healed), syncs with the leader if there is one
    /// and it reaches the quorum.
    fn rejoin(&mut self, i: usize, now: Instant, now_ms: i64) {
        if self.leader.is_some() && self.members[i].in_quorum_reach() {
            self.catch_up(i, now, now_ms);
        }
    }

    /// Member `i` applies the whole log now.
    fn catch_up(&mut self, i: usize, now: Instant, now_ms: i64) {
        while self.members[i].applied < self.log.len() {
            self.apply_entry(i, now, now_ms);
        }
    }

    /// Member `i` applies its next entry; its origin's backlog moves on.
    fn apply_entry(&mut self, i: usize, now: Instant, now_ms: i64) {
        let slot = &mut self.members[i];
        let txn = self.log[slot.applied].txn.clone();
        slot.applied += 1;
        let origin = txn.origin;
        let flow = slot.core.apply_txn(txn, now);
        if let Some(conn) = origin.filter(|c| slot.core.conns.contains_key(c)) {
            slot.core.txn_applied(conn, flow, now, now_ms);
        }
    }

    /// When the housekeeping task must wake next (at the latest a tick from now).
    fn next_wake(&self, ens: &Ens, now: Instant) -> Instant {
        let mut wake = now + ens.config.tick;
        if let Some(at) = self.election_at {
            wake = wake.min(at);
        }
        if self.leader.is_some() {
            if let Some(d) = self.sessions.lock().next_deadline() {
                wake = wake.min(d);
            }
            wake = wake.min(self.next_reap);
            for m in self.members.iter().filter(|m| m.in_quorum_reach()) {
                if let Some(e) = self.log.get(m.applied) {
                    wake = wake.min(e.committed + m.lag);
                }
            }
        }
        wake.max(now)
    }

    /// The leader's timers: session expiry and reaping.
    fn leader_duties(&mut self, ens: &Ens, now: Instant) {
        let Some(l) = self.leader else { return };
        let now_ms = ens.now_ms();
        self.members[l].core.expire_due(now, now_ms);
        if now >= self.next_reap {
            self.members[l].core.reap(now, now_ms, ens.config.reap_max);
            self.next_reap = now + ens.config.reap_interval;
        }
    }
}

/// Elections, lagging members, expiry and reaping, on the ensemble's timers.
async fn housekeeping(ens: Weak<Ens>) {
    loop {
        let wake = {
            let Some(e) = ens.upgrade() else { return };
            let now = Instant::now();
            let mut inner = e.lock();
            inner.leader_duties(&e, now);
            inner.settle(&e, now);
            inner.next_wake(&e, now)
        };
        let Some(e) = ens.upgrade() else { return };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = e.wake.notified() => {}
        }
    }
}

/// One member as its connections see it.
#[derive(Debug)]
struct Member {
    ens: Arc<Ens>,
    idx: usize,
}

impl Member {
    /// Runs `f` on this member's core, then settles the ensemble (commits what it queued).
    fn with_core<T>(&self, f: impl FnOnce(&mut Core, Instant, i64) -> T) -> T {
        let now_ms = self.ens.now_ms();
        self.ens.update(|inner, now| f(&mut inner.members[self.idx].core, now, now_ms))
    }
}

impl Endpoint for Member {
    fn max_frame(&self) -> usize {
        self.ens.config.max_frame
    }

    fn accepting(&self) -> bool {
        self.ens.lock().members[self.idx].core.up
    }

    fn four_letter_word(&self, word: &str) -> String {
        let inner = self.ens.lock();
        let slot = &inner.members[self.idx];
        let mode = match inner.mode(self.idx) {
            Some(MemberMode::Leader) => "leader",
            Some(MemberMode::Follower) => "follower",
            Some(MemberMode::ReadOnly) => "read-only",
            _ => return "This ZooKeeper instance is not currently serving requests\n".to_owned(),
        };
        fourlw::answer(&slot.core, &slot.config, mode, word)
    }

    fn held_until(&self, _session: i64) -> Option<Instant> {
        None
    }

    fn partition_changes(&self) -> tokio::sync::watch::Receiver<()> {
        self.ens.no_partitions.subscribe()
    }

    fn handshake(&self, handle: ConnHandle, req: &ConnectRequest) -> Option<ConnId> {
        self.with_core(|core, now, now_ms| core.handshake(handle, req, now, now_ms))
    }

    fn dispatch(&self, conn: ConnId, body: &[u8]) -> Flow {
        self.with_core(|core, now, now_ms| core.handle_frame(conn, body, now, now_ms))
    }

    fn connection_gone(&self, conn: ConnId, flow: Flow) {
        self.with_core(|core, _, _| core.connection_gone(conn, flow));
    }
}

/// An embedded ZooKeeper ensemble of 3 or 5 members on tokio's clock: one replicated
/// history, members that lag, die, come back and lose touch, leaders elected and lost. See the
/// module documentation of `ensemble.rs` for what it models.
///
/// Clients connect in-process ([`TestEnsemble::client`], to every member or to the ones
/// you name) or over TCP ([`TestEnsemble::connect_string`]: kazoo, Curator, zkCli).
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use zk_core::CreateMode;
/// use zk_testing::TestEnsemble;
///
/// let ens = TestEnsemble::builder().lag(0, Duration::from_secs(1)).start().await?;
/// let writer = ens.client_on(&[2]).connect().await?;
/// let reader = ens.client_on(&[0]).connect().await?;
/// writer.create("/a", b"x", CreateMode::Persistent).await?;
/// assert!(reader.exists("/a").await?.is_none()); // member 0 is a second behind
/// reader.sync("/a").await?;
/// assert!(reader.exists("/a").await?.is_some());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct TestEnsemble {
    ens: Arc<Ens>,
    members: Vec<Arc<Member>>,
    tasks: Vec<JoinHandle<()>>,
}

impl TestEnsemble {
    /// A builder: 3 members, no lag, 200 ms elections, read-only mode off, TCP listeners.
    pub fn builder() -> TestEnsembleBuilder {
        let mut config = TestServer::builder().config;
        config.addr = None;
        TestEnsembleBuilder {
            size: 3,
            seed: None,
            lags: Vec::new(),
            random_lag: Duration::ZERO,
            election: Duration::from_millis(200),
            read_only: false,
            tcp: true,
            config,
        }
    }

    /// Starts 3 members with the builder's defaults.
    ///
    /// # Errors
    /// As [`TestEnsembleBuilder::start`].
    pub async fn start() -> io::Result<TestEnsemble> {
        Self::builder().start().await
    }

    /// The number of members.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// The seed (print it to replay a failure).
    pub fn seed(&self) -> u64 {
        self.ens.config.seed
    }

    /// Member `i`'s TCP address (`None` with [`TestEnsembleBuilder::no_tcp`]).
    ///
    /// # Panics
    /// If there is no member `i`.
    pub fn member_addr(&self, i: usize) -> Option<SocketAddr> {
        self.ens.lock().members[i].config.addr
    }

    /// Every member's TCP address, comma-separated, for TCP clients.
    pub fn connect_string(&self) -> String {
        let inner = self.ens.lock();
        let hosts: Vec<String> =
            inner.members.iter().filter_map(|m| m.config.addr).map(|a| a.to_string()).collect();
        hosts.join(",")
    }

    /// An in-process client builder with every member in its host list.
    pub fn client_builder(&self) -> ClientBuilder {
        let all: Vec<usize> = (0..self.size()).collect();
        self.client_on(&all)
    }

    /// An in-process client builder that knows only `members` (to pin a client to one).
    pub fn client_on(&self, members: &[usize]) -> ClientBuilder {
        let hosts: Vec<String> = members.iter().map(|&i| host_name(i)).collect();
        let n = self.ens.clients_made.fetch_add(1, Ordering::Relaxed);
        let seed = self.seed() ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let weak: Vec<Weak<Member>> = self.members.iter().map(Arc::downgrade).collect();
        Client::builder(&hosts.join(","))
            .connector(Arc::new(InProcess(move |host: &str| {
                let m = weak.get(member_of(host)?)?.upgrade()?;
                Some(m as Arc<dyn Endpoint>)
            })))
            .seed(seed)
    }

    /// A connected in-process client with every member in its host list.
    ///
    /// # Errors
    /// As [`ClientBuilder::connect`].
    pub async fn client(&self) -> zk_core::Result<Client> {
        self.client_builder().connect().await
    }

    // ---- what the members are ----

    /// The leader, if there is one.
    pub fn leader(&self) -> Option<usize> {
        self.ens.lock().leader
    }

    /// The current epoch (the leader's; the high 32 bits of the zxids it assigns).
    pub fn epoch(&self) -> u32 {
        self.ens.lock().epoch
    }

    /// What member `i` is: `None` while it is killed.
    pub fn mode(&self, i: usize) -> Option<MemberMode> {
        self.ens.lock().mode(i)
    }

    /// The last zxid member `i` has applied.
    pub fn last_zxid(&self, i: usize) -> i64 {
        self.ens.lock().members[i].core.state.last_zxid()
    }

    /// How many handshakes member `i` refused because the client had seen a newer zxid.
    pub fn refused_handshakes(&self, i: usize) -> u64 {
        self.ens.lock().members[i].core.refused_behind
    }

    /// The live sessions (one table for the ensemble), with their ephemerals as the leader,
    /// or member 0 without one, sees them.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let inner = self.ens.lock();
        session_infos(&inner.sessions, &inner.members[inner.leader.unwrap_or(0)].core.state)
    }

    /// Member `i`'s copy of the tree, sorted by path.
    pub fn tree(&self, i: usize) -> Vec<NodeInfo> {
        node_infos(&self.ens.lock().members[i].core.state)
    }

    /// One node in member `i`'s copy.
    pub fn node(&self, i: usize, path: &str) -> Option<NodeInfo> {
        node_info(&self.ens.lock().members[i].core.state, path)
    }

    // ---- faults ----

    /// Sets member `i`'s lag from now on (entries already due are applied at once).
    pub fn set_lag(&self, i: usize, lag: Duration) {
        self.ens.update(|inner, _| inner.members[i].lag = lag);
    }

    /// Kills member `i`: its connections are cut and it refuses new ones. Killing the leader
    /// stops every member until an election; killing a majority stops them all.
    pub fn kill(&self, i: usize) {
        self.ens.update(|inner, _| inner.members[i].alive = false);
    }

    /// Restarts member `i` with what it had applied; it catches up from the leader and serves.
    pub fn restart(&self, i: usize) {
        let now_ms = self.ens.now_ms();
        self.ens.update(|inner, now| {
            inner.members[i].alive = true;
            inner.rejoin(i, now, now_ms);
        });
    }

    /// Kills the leader, if there is one; returns it.
    pub fn kill_leader(&self) -> Option<usize> {
        let leader = self.leader()?;
        self.kill(leader);
        Some(leader)
    }

    /// Cuts member `i` off from the others (it keeps running): its clients lose their
    /// connections, and with read-only mode on it serves read-only sessions. Cutting the
    /// leader off loses the leader.
    pub fn partition(&self, i: usize) {
        self.ens.update(|inner, _| inner.members[i].partitioned = true);
    }

    /// Ends member `i`'s partition: it catches up from the leader and serves again.
    pub fn heal(&self, i: usize) {
        let now_ms = self.ens.now_ms();
        self.ens.update(|inner, now| {
            inner.members[i].partitioned = false;
            inner.rejoin(i, now, now_ms);
        });
    }

    /// Expires a session now, as the leader's tracker does when its deadline passes. False if
    /// there is no such session or no leader.
    pub fn expire_session(&self, id: i64) -> bool {
        let now_ms = self.ens.now_ms();
        self.ens.update(|inner, now| {
            let Some(l) = inner.leader else { return false };
            let known = inner.sessions.lock().get(id).is_some();
            if known {
                inner.members[l].core.expire(id, now, now_ms);
            }
            known
        })
    }

    /// Waits until there is a leader (at most `limit` of tokio's clock); returns it.
    ///
    /// # Errors
    /// `TimedOut` when no leader was elected in time (no majority up, say).
    pub async fn wait_for_leader(&self, limit: Duration) -> io::Result<usize> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self.leader() {
                return Ok(l);
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no leader elected"));
            }
            tokio::time::sleep(Duration::from_millis(10).min(deadline - Instant::now())).await;
        }
    }
}

impl Drop for TestEnsemble {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let mut inner = self.ens.lock();
        for m in &mut inner.members {
            m.core.up = false;
            m.core.kill_all();
        }
        if std::thread::panicking() {
            eprintln!("zk-testing: ensemble seed {0}; rerun with ZK_TEST_SEED={0}", self.ens.config.seed);
        }
    }
}
