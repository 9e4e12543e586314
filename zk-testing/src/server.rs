//! [`TestServer`]: an embedded, in-memory, ZooKeeper-compatible server. Its settings and start
//! are in `builder.rs`, its faults on command in `faults.rs`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use rand::rngs::StdRng;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zk_core::proto::{ConnectRequest, Stat};
use zk_core::{BoxReader, BoxWriter, Client, ClientBuilder, Connector};

use crate::conn::{self, connect_frame, ConnHandle, Flow};
use crate::fault::Faults;
use crate::proxy::ACCEPT_BACKOFF;
use crate::sessions::Sessions;
use crate::state::{ConnId, State, StateConfig};

mod builder;
mod faults;

pub use builder::TestServerBuilder;
pub(crate) use faults::deadline;

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
    /// The release to behave as ([`TestServerBuilder::version`]).
    pub(crate) version: crate::ServerVersion,
    /// SASL DIGEST-MD5 users and passwords ([`TestServerBuilder::sasl_user`]).
    pub(crate) sasl_users: HashMap<String, String>,
    /// The TLS listener's address (requested, then bound) and settings.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<(SocketAddr, crate::tls::ServerTls)>,
}

impl Config {
    /// The options the state machine needs.
    pub(crate) fn state_config(&self) -> StateConfig {
        StateConfig {
            extended_types: self.extended_types,
            super_digest: self.super_digest.clone(),
            version: self.version,
        }
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
    /// SASL DIGEST-MD5 users and their passwords (none: SASL is refused).
    pub(crate) sasl_users: HashMap<String, String>,
    /// The DIGEST-MD5 exchanges that sent their challenge, by connection.
    pub(crate) sasl_exchanges: HashMap<ConnId, zk_core::sasl::DigestMd5Server>,
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
            core.sasl_exchanges.remove(&conn);
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

    /// The connection currently bound to `session`, if any.
    pub(crate) fn conn_of(&self, session: i64) -> Option<&ConnHandle> {
        let conn = self.sessions.get(session)?.conn?;
        self.conns.get(&conn)
    }

    pub(crate) fn kill_all(&mut self) {
        for c in self.conns.values() {
            let _ = c.kill.send(true);
        }
    }
}

/// Accepts connections until aborted, handing each (with `TCP_NODELAY`) to `serve`: the plain
/// listener's [`serve_plain`], the TLS listener's handshake first.
pub(crate) async fn accept_loop<F>(shared: Weak<Shared>, listener: TcpListener, serve: F)
where
    F: Fn(Arc<Shared>, TcpStream, SocketAddr),
{
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
        serve(shared, stream, peer);
    }
}

/// Serves a plain TCP connection on a task of its own.
fn serve_plain(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let (r, w) = stream.into_split();
    tokio::spawn(conn::serve(shared, r, w, peer.ip().to_string()));
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

    fn spawn_housekeeping(&self) {
        let weak = Arc::downgrade(&self.shared);
        let (tick, reap) = (self.shared.config.tick, self.shared.config.reap_interval);
        self.push_task(tokio::spawn(housekeeping(weak, tick, reap)));
    }

    fn push_task(&self, t: JoinHandle<()>) {
        self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(t);
    }

    fn serve(&self, listener: TcpListener) {
        self.push_task(tokio::spawn(accept_loop(Arc::downgrade(&self.shared), listener, serve_plain)));
    }

    #[cfg(feature = "tls")]
    pub(crate) fn serve_tls(&self, listener: TcpListener, tls: crate::tls::ServerTls) {
        let weak = Arc::downgrade(&self.shared);
        self.push_task(tokio::spawn(accept_loop(weak, listener, move |shared, stream, peer| {
            crate::tls::serve(&tls, shared, stream, peer)
        })));
    }

    /// The TLS listener's address, when built with [`TestServerBuilder::tls`] (feature `tls`).
    #[cfg(feature = "tls")]
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.shared.config.tls.as_ref().map(|(addr, _)| *addr)
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
    /// When the TCP address (or the TLS one) cannot be bound again (the server then serves
    /// in-process clients only).
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
        #[cfg(feature = "tls")]
        if let Some((addr, tls)) = &self.shared.config.tls {
            self.serve_tls(TcpListener::bind(addr).await?, tls.clone());
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
