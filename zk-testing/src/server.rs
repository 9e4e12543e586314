//! [`TestServer`]: an embedded, in-memory, ZooKeeper-compatible server.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zk_core::proto::{ConnectRequest, ErrorCode, Stat};
use zk_core::{BoxReader, BoxWriter, Client, ClientBuilder, Connector};

use crate::conn::{self, connect_frame, ConnHandle, Flow};
use crate::fault::{Action, Chaos, Faults, RequestMatcher};
use crate::proxy::ACCEPT_BACKOFF;
use crate::sessions::Sessions;
use crate::state::{ConnId, State, StateConfig};

/// Server settings, from [`TestServerBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The TCP address: as requested in the builder, the bound one (real port) once started.
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) tick: Duration,
    pub(crate) seed: u64,
    pub(crate) extended_types: bool,
    pub(crate) reap_interval: Duration,
    pub(crate) reap_max: usize,
    pub(crate) max_frame: usize,
    pub(crate) super_digest: Option<String>,
    pub(crate) epoch_ms: Option<i64>,
}

impl Config {
    /// The options the state machine needs.
    pub(crate) fn state_config(&self) -> StateConfig {
        StateConfig { extended_types: self.extended_types, super_digest: self.super_digest.clone() }
    }
}

/// Everything behind the server lock.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) state: State,
    pub(crate) sessions: Sessions,
    pub(crate) conns: HashMap<ConnId, ConnHandle>,
    pub(crate) faults: Faults,
    pub(crate) rng: StdRng,
    pub(crate) next_conn: ConnId,
    pub(crate) packets_received: u64,
    pub(crate) packets_sent: u64,
    /// Watch notifications queued to connections, ever.
    pub(crate) notifications_sent: u64,
    /// False while the server is down (between stop and start of a restart).
    pub(crate) up: bool,
    /// Sessions cut off from the server until the given time.
    pub(crate) partitions: HashMap<i64, Instant>,
    /// Serving as a read-only server (§2.6): only read-only-aware clients, no writes.
    pub(crate) read_only: bool,
}

/// State shared by the server handle, its tasks and its connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) core: Mutex<Core>,
    pub(crate) config: Config,
    pub(crate) start: Instant,
    pub(crate) epoch_ms: i64,
    /// In-process clients handed out so far (each gets its own seed).
    pub(crate) clients_made: std::sync::atomic::AtomicU64,
    /// Signalled when a partition starts or is extended, so connect requests held at a
    /// partition wait for its new end.
    pub(crate) partitions_changed: tokio::sync::watch::Sender<()>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wall-clock milliseconds for ctime/mtime/TTL, driven by tokio's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.epoch_ms + Instant::now().duration_since(self.start).as_millis() as i64
    }

    /// Settles the session of a new connection (§2.4); `None` = close without a reply.
    pub(crate) fn handshake(&self, mut handle: ConnHandle, req: &ConnectRequest) -> Option<ConnId> {
        let now = Instant::now();
        let mut core = self.lock();
        // A read-only server closes on clients that do not accept one, without a reply (§2.4).
        let refused_read_only = core.read_only && req.read_only != Some(true);
        if !core.up || refused_read_only || req.last_zxid_seen > core.state.last_zxid() {
            return None;
        }
        let read_only = core.read_only;
        core.next_conn += 1;
        let conn = core.next_conn;
        let timeout = core.sessions.negotiate(req.timeout_ms);
        let timeout_ms = timeout.as_millis() as i32;
        let reply = if req.session_id == 0 {
            let Core { sessions, rng, .. } = &mut *core;
            let (id, pw) = sessions.create(timeout, conn, now, rng);
            core.state.create_session();
            handle.session = id;
            Ok(connect_frame(req, timeout_ms, id, &pw, read_only))
        } else {
            // A session past its deadline is expired here, even if the expiry timer has not run
            // yet at this instant: the client learns it no earlier than the others.
            if core.sessions.is_due(req.session_id, now) {
                core.expire(req.session_id, now);
            }
            let resumed = core.sessions.resume(req.session_id, &req.passwd, timeout, conn, now);
            let old = match &resumed {
                Ok(old) | Err(old) => *old,
            };
            if let Some(old) = old.and_then(|c| core.conns.get(&c)) {
                let _ = old.kill.send(true);
            }
            match resumed {
                Ok(_) => {
                    handle.session = req.session_id;
                    Ok(connect_frame(req, timeout_ms, req.session_id, &req.passwd, read_only))
                }
                Err(_) => Err(connect_frame(req, 0, 0, &[0; 16], read_only)),
            }
        };
        let peer = handle.peer.clone();
        let session = handle.session;
        match reply {
            Ok(frame) => {
                handle.send(frame, now);
                core.conns.insert(conn, handle);
                core.state.connection_opened(conn, session, &peer);
            }
            Err(frame) => {
                // Invalid session: answer "timeout 0", then close (§2.4 step 7).
                handle.send(frame, now);
                handle.close();
                core.conns.insert(conn, handle);
            }
        }
        Some(conn)
    }

    /// One request frame.
    pub(crate) fn dispatch(&self, conn: ConnId, body: &[u8]) -> Flow {
        let now_ms = self.now_ms();
        self.lock().handle_frame(conn, body, Instant::now(), now_ms)
    }

    /// The connection's reader ended: forget it (its session lives on until expiry). With
    /// `Flow::Kill` the writer stops at once; otherwise it sends what is queued, then closes.
    pub(crate) fn connection_gone(&self, conn: ConnId, flow: Flow) {
        let mut core = self.lock();
        if let Some(h) = core.conns.remove(&conn) {
            if flow == Flow::Kill {
                let _ = h.kill.send(true);
            } else {
                h.close();
            }
            core.sessions.detach(h.session, conn);
            core.state.connection_closed(conn);
        }
    }

    /// Expires every session whose deadline passed.
    fn expire_due(&self) {
        let now = Instant::now();
        let mut core = self.lock();
        for id in core.sessions.expired(now) {
            core.expire(id, now);
        }
    }

    fn reap(&self) {
        let now_ms = self.now_ms();
        let mut core = self.lock();
        let max = self.config.reap_max;
        let notes = core.state.reap(now_ms, max);
        core.deliver(notes, Instant::now());
    }
}

impl Core {
    /// Ends a session: its connection is closed, then its ephemerals go in one transaction.
    ///
    /// The connection is closed first, so a client still connected learns that its session is
    /// gone (it sees the close at once and the expiry on its next handshake) no later than
    /// other clients learn of the deleted ephemerals.
    pub(crate) fn expire(&mut self, id: i64, now: Instant) {
        if let Some(conn) = self.sessions.remove(id) {
            if let Some(c) = self.conns.get(&conn) {
                c.close();
            }
        }
        let notes = self.state.close_session(id);
        self.deliver(notes, now);
    }

    /// Cuts `session` off until `until` or, if it already is for longer, until then: its
    /// connection freezes and new connections it makes are held before the handshake. False
    /// if there is no such session.
    pub(crate) fn partition(&mut self, session: i64, until: Instant) -> bool {
        if self.sessions.get(session).is_none() {
            return false;
        }
        let now = Instant::now();
        self.partitions.retain(|_, t| *t > now);
        let end = self.partitions.entry(session).or_insert(until);
        *end = (*end).max(until);
        let end = *end;
        if let Some(c) = self.conn_of(session) {
            c.freeze_until(end);
        }
        true
    }

    /// The connection currently bound to `session`, if any.
    pub(crate) fn conn_of(&self, session: i64) -> Option<&ConnHandle> {
        let conn = self.sessions.get(session)?.conn?;
        self.conns.get(&conn)
    }

    fn kill_all(&mut self) {
        for c in self.conns.values() {
            let _ = c.kill.send(true);
        }
    }
}

/// Accepts TCP connections until aborted.
async fn accept_loop(shared: Weak<Shared>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Say, out of file descriptors: pause so the loop cannot spin.
                tracing::warn!(error = %e, "test server accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(shared) = shared.upgrade() else { return };
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        tokio::spawn(conn::serve(shared, r, w, peer.ip().to_string()));
    }
}

/// Wakes at least once a tick to expire sessions; reaps containers and TTL nodes.
async fn housekeeping(shared: Weak<Shared>, tick: Duration, reap_every: Duration) {
    let mut next_reap = Instant::now() + reap_every;
    loop {
        let next_expiry = match shared.upgrade() {
            Some(s) => s.lock().sessions.next_deadline(),
            None => return,
        };
        let next_tick = Instant::now() + tick;
        let wake = next_expiry.map_or(next_tick, |e| e.min(next_tick)).min(next_reap);
        tokio::time::sleep_until(wake).await;
        let Some(s) = shared.upgrade() else { return };
        s.expire_due();
        if Instant::now() >= next_reap {
            s.reap();
            next_reap = Instant::now() + reap_every;
        }
    }
}

/// Builds a [`TestServer`]. Defaults: 127.0.0.1 on a free port, tick 2 s (session timeouts
/// 4..40 s, as the real harness), TTL nodes enabled, containers and TTL nodes reaped every
/// second, 1 MiB frames, seed from `ZK_TEST_SEED` or random.
#[derive(Debug, Clone)]
pub struct TestServerBuilder {
    config: Config,
    seed: Option<u64>,
    read_only: bool,
}

impl TestServerBuilder {
    /// Listen on this address (port 0 picks a free one).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.config.addr = Some(addr);
        self
    }

    /// Start as a read-only server (see [`TestServer::set_read_only`]); default false.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Serve only in-process clients: no TCP listener.
    pub fn no_tcp(mut self) -> Self {
        self.config.addr = None;
        self
    }

    /// The tick: sessions may ask for 2 to 20 ticks; expiry is checked per tick.
    pub fn tick(mut self, tick: Duration) -> Self {
        self.config.tick = tick.max(Duration::from_millis(1));
        self
    }

    /// The seed of every random choice (session ids, passwords, chaos faults).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Allow TTL nodes (`zookeeper.extendedTypesEnabled`); default true.
    pub fn extended_types(mut self, on: bool) -> Self {
        self.config.extended_types = on;
        self
    }

    /// How often containers and TTL nodes are reaped.
    pub fn reap_interval(mut self, every: Duration) -> Self {
        self.config.reap_interval = every.max(Duration::from_millis(1));
        self
    }

    /// The frame limit (`jute.maxbuffer`).
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.config.max_frame = bytes;
        self
    }

    /// A digest id (`user:base64(sha1(user:password))`, what the digest scheme derives from
    /// `addAuth("digest", "user:password")`) whose holder bypasses every ACL.
    pub fn super_digest(mut self, digest: &str) -> Self {
        self.config.super_digest = Some(digest.to_owned());
        self
    }

    /// Fix the wall clock used for ctime/mtime at start (default: now), so traces with times
    /// are reproducible too.
    pub fn epoch_ms(mut self, ms: i64) -> Self {
        self.config.epoch_ms = Some(ms);
        self
    }

    /// Starts the server.
    ///
    /// # Errors
    /// When the TCP address cannot be bound.
    pub async fn start(self) -> io::Result<TestServer> {
        self.start_with(None).await
    }

    async fn start_with(mut self, state: Option<State>) -> io::Result<TestServer> {
        let seed = self.seed.or_else(seed_from_env).unwrap_or_else(rand::random);
        self.config.seed = seed;
        let mut rng = StdRng::seed_from_u64(seed);
        let start = Instant::now();
        let epoch_ms = self.config.epoch_ms.unwrap_or_else(wall_ms);
        // Bound before the config is shared, so it holds the real port (`conf` reports it).
        let listener = match self.config.addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await?;
                self.config.addr = Some(listener.local_addr()?);
                Some(listener)
            }
            None => None,
        };
        let core = Core {
            state: state.unwrap_or_else(|| State::new(self.config.state_config())),
            sessions: Sessions::new(self.config.tick, start, &mut rng),
            conns: HashMap::new(),
            faults: Faults::default(),
            rng,
            next_conn: 0,
            packets_received: 0,
            packets_sent: 0,
            notifications_sent: 0,
            up: true,
            partitions: HashMap::new(),
            read_only: self.read_only,
        };
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            config: self.config.clone(),
            start,
            epoch_ms,
            clients_made: std::sync::atomic::AtomicU64::new(0),
            partitions_changed: tokio::sync::watch::Sender::new(()),
        });
        let server =
            TestServer { shared, tasks: Mutex::new(Vec::new()), restarting: tokio::sync::Mutex::new(()) };
        server.spawn_housekeeping();
        if let Some(listener) = listener {
            server.serve(listener);
        }
        Ok(server)
    }
}

/// How far ahead a fault's deadline may be: further ones are cut to this (tokio's timers do not
/// reach further, and no test runs this long even on a paused clock).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `from + d`, without overflowing: at most [`FAR_FUTURE`] after now.
pub(crate) fn deadline(from: Instant, d: Duration) -> Instant {
    let far = Instant::now() + FAR_FUTURE;
    from.checked_add(d).map_or(far, |t| t.min(far))
}

fn seed_from_env() -> Option<u64> {
    std::env::var("ZK_TEST_SEED").ok()?.trim().parse().ok()
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// An embedded, in-memory, ZooKeeper-compatible server for tests.
///
/// It serves real TCP clients (the Java client, zkCli, Curator, kazoo, zk-core) on loopback
/// and in-process zk-core clients over an in-memory duplex ([`TestServer::client`]) that run on
/// tokio's clock: under `#[tokio::test(start_paused = true)]` a 30 s session expiry takes no
/// real time. Faults are injected on command ([`TestServer::expire_session`],
/// [`TestServer::fail_next`], [`TestServer::lose_next_reply`], [`TestServer::pause_connections`],
/// ...) or drawn from the seeded RNG ([`TestServer::set_chaos`]).
///
/// Dropping the server stops it (connections are cut); a test that panics prints the seed to
/// replay with `ZK_TEST_SEED`.
#[derive(Debug)]
pub struct TestServer {
    pub(crate) shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Held for the whole of a restart.
    restarting: tokio::sync::Mutex<()>,
}

/// Marks the server up when dropped: at the end of a restart, even a cancelled one.
struct UpOnDrop<'a>(&'a Shared);

impl Drop for UpOnDrop<'_> {
    fn drop(&mut self) {
        self.0.lock().up = true;
    }
}

/// A session as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id.
    pub id: i64,
    /// Negotiated timeout.
    pub timeout: Duration,
    /// Whether a connection is bound to it right now.
    pub connected: bool,
    /// Its ephemeral nodes.
    pub ephemerals: Vec<String>,
    /// How many requests it has sent, pings excluded (with `setWatches` and the like), over
    /// all its connections: what a test counts to show a recipe's cost on the server.
    pub requests: u64,
}

/// One node of the tree, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Absolute path.
    pub path: String,
    /// Stat as a client would see it.
    pub stat: Stat,
    /// Data (`None` for null data).
    pub data: Option<Vec<u8>>,
}

impl TestServer {
    /// Starts a server with the defaults of [`TestServerBuilder`].
    ///
    /// # Errors
    /// When 127.0.0.1 cannot be bound.
    pub async fn start() -> io::Result<TestServer> {
        TestServer::builder().start().await
    }

    /// A builder for the other settings.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            config: Config {
                addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                tick: Duration::from_millis(2000),
                seed: 0,
                extended_types: true,
                reap_interval: Duration::from_secs(1),
                reap_max: 10_000,
                max_frame: zk_core::proto::DEFAULT_MAX_FRAME,
                super_digest: None,
                epoch_ms: None,
            },
            seed: None,
            read_only: false,
        }
    }

    fn spawn_housekeeping(&self) {
        let weak = Arc::downgrade(&self.shared);
        let (tick, reap) = (self.shared.config.tick, self.shared.config.reap_interval);
        self.push_task(tokio::spawn(housekeeping(weak, tick, reap)));
    }

    fn push_task(&self, t: JoinHandle<()>) {
        self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(t);
    }

    fn serve(&self, listener: TcpListener) {
        self.push_task(tokio::spawn(accept_loop(Arc::downgrade(&self.shared), listener)));
    }

    /// The seed of this server's random choices (print it to replay a failure).
    pub fn seed(&self) -> u64 {
        self.shared.config.seed
    }

    /// The TCP address, unless built with [`TestServerBuilder::no_tcp`].
    pub fn addr(&self) -> Option<SocketAddr> {
        self.shared.config.addr
    }

    /// `127.0.0.1:port` for TCP clients (empty without a listener).
    pub fn connect_string(&self) -> String {
        self.addr().map(|a| a.to_string()).unwrap_or_default()
    }

    /// A client builder wired to this server in-process (no sockets; tokio's clock).
    pub fn client_builder(&self) -> ClientBuilder {
        // Each client's randomness (host order, reconnect and retry jitter) is drawn from the
        // server's seed, so a paused-clock test replays exactly.
        let n = self.shared.clients_made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seed = self.shared.config.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Client::builder("zk-testing:2181")
            .connector(Arc::new(InProcess(Arc::downgrade(&self.shared))))
            .seed(seed)
    }

    /// A connected in-process client with default options.
    ///
    /// # Errors
    /// As [`ClientBuilder::connect`].
    pub async fn client(&self) -> zk_core::Result<Client> {
        self.client_builder().connect().await
    }

    /// How many watch notifications the server has sent, in total (for "no herd effect"
    /// assertions: a lock release should wake one waiter, not all of them).
    pub fn notifications_sent(&self) -> u64 {
        self.shared.lock().notifications_sent
    }

    /// The last zxid the server applied.
    pub fn last_zxid(&self) -> i64 {
        self.shared.lock().state.last_zxid()
    }

    // ---- faults ----

    /// Expires a session now, as if its timeout had passed: ephemerals are deleted, watchers
    /// notified, its connection closed. False if there is no such session.
    ///
    /// This is adversarial: a real ensemble never expires the session of a client it still
    /// hears, and that client may believe it is connected until it reads the close. For the
    /// way a real session expires, see [`TestServer::partition_until_expiry`].
    pub fn expire_session(&self, id: i64) -> bool {
        let mut core = self.shared.lock();
        if core.sessions.get(id).is_none() {
            return false;
        }
        core.expire(id, Instant::now());
        true
    }

    /// Cuts the connection of a session (the session lives on). False if it has none.
    pub fn drop_connection(&self, session_id: i64) -> bool {
        let core = self.shared.lock();
        core.conn_of(session_id).is_some_and(|c| c.kill.send(true).is_ok())
    }

    /// Cuts every connection.
    pub fn drop_all_connections(&self) {
        self.shared.lock().kill_all();
    }

    /// Switches to (`true`) or from read-only mode, as an ensemble member does when it loses
    /// or regains its quorum with `readonlymode.enabled=true` (§2.6): every connection is cut.
    /// A read-only server accepts only clients that accept a read-only server (and tells
    /// them it is one), serves reads, and answers writes and `sync` with `NotReadOnly`.
    ///
    /// Unlike a real read-only member, which knows only its own local sessions, the embedded
    /// server keeps one session table: a session resumes across the switch.
    pub fn set_read_only(&self, read_only: bool) {
        let mut core = self.shared.lock();
        core.read_only = read_only;
        core.kill_all();
    }

    /// True while serving read-only (see [`TestServer::set_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.shared.lock().read_only
    }

    /// Freezes a session's connection for `d` (a partition: no bytes either way). False if it
    /// has none.
    ///
    /// Freezes compose: a connection stays frozen until the latest deadline of every pause and
    /// partition that applies to it, so a pause never shortens a longer one.
    pub fn pause_connection(&self, session_id: i64, d: Duration) -> bool {
        let until = deadline(Instant::now(), d);
        let core = self.shared.lock();
        core.conn_of(session_id).map(|c| c.freeze_until(until)).is_some()
    }

    /// Cuts a session off from the server for `d`: its connection freezes and any new
    /// connection it makes is held before the handshake until `d` has passed, as in a network
    /// partition between that client and the server. Long enough, and the session expires.
    /// False if there is no such session.
    ///
    /// Partitions compose with each other and with pauses: the session stays cut off until
    /// the latest of their deadlines (a shorter partition never shortens a longer one).
    pub fn partition_session(&self, session_id: i64, d: Duration) -> bool {
        let until = deadline(Instant::now(), d);
        self.shared.lock().partition(session_id, until) && self.partitions_changed()
    }

    /// Expires a session the way a real ensemble does: cuts its client off (as
    /// [`TestServer::partition_session`]) until the server expires the session on its own
    /// timer, a session timeout (rounded up to the tick) after it last heard from the client.
    /// The client sees its connection go quiet, reconnects in vain, and learns of the expiry
    /// when the partition heals, at the expiry; then a renewing client opens a new session.
    /// False if there is no such session.
    pub fn partition_until_expiry(&self, session_id: i64) -> bool {
        let mut core = self.shared.lock();
        let Some(expiry) = core.sessions.get(session_id).map(|s| s.deadline) else { return false };
        core.partition(session_id, expiry) && self.partitions_changed()
    }

    /// Freezes every current connection for `d` (as [`TestServer::pause_connection`] each).
    pub fn pause_connections(&self, d: Duration) {
        let until = deadline(Instant::now(), d);
        for c in self.shared.lock().conns.values() {
            c.freeze_until(until);
        }
    }

    /// Wakes the connect requests held at a partition; true, for chaining.
    fn partitions_changed(&self) -> bool {
        self.shared.partitions_changed.send_modify(|()| {});
        true
    }

    /// The next request matching `m` fails with `error` without being applied.
    ///
    /// Armed faults stack rather than replace one another: each fires its own number of
    /// times, and when several match one request the one armed first fires (the others wait
    /// for the next matching requests). Pings, auth, `setWatches` and `closeSession` are never
    /// matched.
    pub fn fail_next(&self, m: RequestMatcher, error: ErrorCode) {
        self.shared.lock().faults.arm(m, Action::Fail(error), 1);
    }

    /// The next `times` requests matching `m` fail with `error`.
    pub fn fail_times(&self, m: RequestMatcher, error: ErrorCode, times: usize) {
        self.shared.lock().faults.arm(m, Action::Fail(error), times);
    }

    /// The next request matching `m` is applied, then its connection is cut before the reply
    /// (the client sees ConnectionLoss for a write that happened).
    pub fn lose_next_reply(&self, m: RequestMatcher) {
        self.shared.lock().faults.arm(m, Action::LoseReply, 1);
    }

    /// The next request matching `m` cuts its connection without being applied.
    pub fn drop_on_next(&self, m: RequestMatcher) {
        self.shared.lock().faults.arm(m, Action::Drop, 1);
    }

    /// Delays every reply and event by `d` (replacing the previous fixed latency), until
    /// changed or [`TestServer::clear_faults`].
    pub fn set_latency(&self, d: Duration) {
        self.shared.lock().faults.latency = d;
    }

    /// Delays every reply and event queued in the next `window` by `delay`; the latency ends
    /// on its own. Latencies that overlap do not add up: a reply waits for the largest one
    /// open when it is queued (the fixed one of [`TestServer::set_latency`] included).
    pub fn set_latency_for(&self, delay: Duration, window: Duration) {
        let until = deadline(Instant::now(), window);
        self.shared.lock().faults.add_latency(delay, until);
    }

    /// Random faults from the seeded RNG (`None` turns them off).
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.shared.lock().faults.chaos = chaos;
    }

    /// Disarms every fault, latency and chaos.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    // ---- inspection ----

    /// Live sessions, by id.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let core = self.shared.lock();
        core.sessions
            .list()
            .into_iter()
            .map(|(id, s)| SessionInfo {
                id,
                timeout: s.timeout,
                connected: s.conn.is_some(),
                ephemerals: core.state.ephemerals(id),
                requests: s.requests,
            })
            .collect()
    }

    /// The paths each session's connection watches (one-shot, persistent and recursive).
    pub fn watches(&self) -> Vec<(i64, Vec<String>)> {
        let core = self.shared.lock();
        core.state
            .watches_by_conn()
            .into_iter()
            .filter_map(|(conn, paths)| core.conns.get(&conn).map(|c| (c.session, paths)))
            .collect()
    }

    /// The whole tree, sorted by path.
    pub fn tree(&self) -> Vec<NodeInfo> {
        let core = self.shared.lock();
        core.state.dump().into_iter().map(|(path, stat, data)| NodeInfo { path, stat, data }).collect()
    }

    /// One node's path, stat and data, or `None` when it does not exist. Unlike
    /// [`TestServer::tree`] it copies only that node, so prefer it to searching the tree.
    pub fn node(&self, path: &str) -> Option<NodeInfo> {
        let (stat, data) = self.shared.lock().state.node(path)?;
        Some(NodeInfo { path: path.to_owned(), stat, data })
    }

    /// The full paths of the direct children of `path`, sorted (empty when it has none or
    /// does not exist).
    pub fn children(&self, path: &str) -> Vec<String> {
        self.shared.lock().state.children(path)
    }

    /// Number of znodes (including `/` and the `/zookeeper` subtree).
    pub fn node_count(&self) -> usize {
        self.shared.lock().state.node_count()
    }

    /// The tree, zxid and ephemeral owners as bytes (see [`TestServerBuilder::start_from`]).
    pub fn snapshot(&self) -> Vec<u8> {
        self.shared.lock().state.snapshot()
    }

    // ---- life cycle ----

    /// Bounces the server: every connection is cut, then it serves again on the same address
    /// with the same data, zxid and (unexpired) sessions, which clients resume.
    ///
    /// It takes `&self`, so a task that shares the server (a [`FaultPlan`](crate::FaultPlan)
    /// being applied, say) can restart it while the test keeps using it; concurrent restarts
    /// run one after the other.
    ///
    /// # Errors
    /// When the TCP address cannot be bound again (the server then serves in-process clients
    /// only).
    ///
    /// # Cancellation safety
    /// Dropped before it completes, the server still comes back up for in-process clients,
    /// but its TCP listener may not be restored.
    pub async fn restart(&self) -> io::Result<()> {
        let _one_at_a_time = self.restarting.lock().await;
        self.stop();
        let _up_again = UpOnDrop(&self.shared);
        self.spawn_housekeeping();
        tokio::task::yield_now().await;
        if let Some(addr) = self.addr() {
            self.serve(TcpListener::bind(addr).await?);
        }
        Ok(())
    }

    /// Marks the server down, cuts every connection and aborts its tasks (listener and
    /// housekeeping); `restart` then spawns them again.
    fn stop(&self) {
        {
            let mut core = self.shared.lock();
            core.up = false;
            core.kill_all();
        }
        for t in self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
            t.abort();
        }
    }

    /// Stops serving: cuts every connection and ends the server's tasks.
    pub async fn shutdown(self) {
        drop(self);
        tokio::task::yield_now().await;
    }
}

impl TestServerBuilder {
    /// Starts a server whose tree, zxid and ephemerals come from a [`TestServer::snapshot`].
    ///
    /// # Errors
    /// `InvalidData` for bytes that are not a snapshot; bind errors as [`Self::start`].
    pub async fn start_from(self, snapshot: &[u8]) -> io::Result<TestServer> {
        let state = State::restore(snapshot, self.config.state_config())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.start_with(Some(state)).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("zk-testing: server seed {0}; rerun with ZK_TEST_SEED={0}", self.shared.config.seed);
        }
    }
}

/// Connects zk-core clients to the server through in-memory pipes.
#[derive(Debug)]
struct InProcess(Weak<Shared>);

impl Connector for InProcess {
    fn connect<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, io::Result<(BoxReader, BoxWriter)>> {
        Box::pin(async move {
            let shared = self.0.upgrade().filter(|s| s.lock().up).ok_or(io::ErrorKind::ConnectionRefused)?;
            let (client, server) = tokio::io::duplex(256 * 1024);
            let (sr, sw) = tokio::io::split(server);
            tokio::spawn(conn::serve(shared, sr, sw, "127.0.0.1".to_owned()));
            let (cr, cw) = tokio::io::split(client);
            Ok((Box::new(cr) as BoxReader, Box::new(cw) as BoxWriter))
        })
    }
}
