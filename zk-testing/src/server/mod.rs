//! [`TestServer`]: an embedded, in-memory, ZooKeeper-compatible server.
//!
//! The server's house: this file holds the public handle and its life cycle; `builder.rs` its
//! settings and start; `inspect.rs` what tests read of it; `faults.rs` its faults on command;
//! `core.rs` the synchronous core that applies requests under the server lock; `conn.rs` the
//! async connection I/O, which reaches the core only through [`conn::Endpoint`]; `fourlw.rs`
//! the four-letter words, answered from the core.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zk_core::proto::ConnectRequest;
use zk_core::{Client, ClientBuilder};

use crate::state::{ConnId, StateConfig};

mod builder;
pub(crate) mod conn;
pub(crate) mod core;
mod faults;
pub(crate) mod fourlw;
pub(crate) mod inspect;

pub use builder::TestServerBuilder;
pub(crate) use builder::{seed_from_env, wall_ms};
pub(crate) use faults::deadline;
pub use inspect::{NodeInfo, SessionInfo};

use self::conn::{accept_loop, serve_plain, ConnHandle, Endpoint, Flow, InProcess};
use self::core::Core;

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

    /// Expires every session whose deadline passed.
    fn expire_due(&self) {
        let now_ms = self.now_ms();
        self.lock().expire_due(Instant::now(), now_ms);
    }

    /// Deletes the containers and TTL nodes due.
    fn reap(&self) {
        let now_ms = self.now_ms();
        self.lock().reap(Instant::now(), now_ms, self.config.reap_max);
    }
}

impl Endpoint for Shared {
    fn max_frame(&self) -> usize {
        self.config.max_frame
    }

    fn accepting(&self) -> bool {
        self.lock().up
    }

    fn four_letter_word(&self, word: &str) -> String {
        let core = self.lock();
        let mode = if core.read_only { "read-only" } else { "standalone" };
        fourlw::answer(&core, &self.config, mode, word)
    }

    fn held_until(&self, session: i64) -> Option<Instant> {
        self.lock().partitions.get(&session).copied()
    }

    fn partition_changes(&self) -> tokio::sync::watch::Receiver<()> {
        self.partitions_changed.subscribe()
    }

    fn handshake(&self, handle: ConnHandle, req: &ConnectRequest) -> Option<ConnId> {
        let now_ms = self.now_ms();
        self.lock().handshake(handle, req, Instant::now(), now_ms)
    }

    fn dispatch(&self, conn: ConnId, body: &[u8]) -> Flow {
        let now_ms = self.now_ms();
        self.lock().handle_frame(conn, body, Instant::now(), now_ms)
    }

    fn connection_gone(&self, conn: ConnId, flow: Flow) {
        self.lock().connection_gone(conn, flow);
    }
}

/// Wakes at least once a tick to expire sessions; reaps containers and TTL nodes.
async fn housekeeping(shared: Weak<Shared>, tick: Duration, reap_every: Duration) {
    let mut next_reap = Instant::now() + reap_every;
    loop {
        let next_expiry = match shared.upgrade() {
            Some(s) => s.lock().sessions.lock().next_deadline(),
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
        let weak = Arc::downgrade(&self.shared);
        Client::builder("zk-testing:2181")
            .connector(Arc::new(InProcess(move |_host: &str| weak.upgrade().map(|s| s as Arc<dyn Endpoint>))))
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
