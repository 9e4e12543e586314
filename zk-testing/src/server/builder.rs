//! [`TestServerBuilder`]: the server's settings, and starting it.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::core::Commit;
use super::{Config, Core, Shared, TestServer};
use crate::sessions::{SessionTable, Sessions};
use crate::state::{SavedSession, State};

/// Builds a [`TestServer`]. Defaults: 127.0.0.1 on a free port, tick 2 s (session timeouts
/// 4..40 s, as the real harness), TTL nodes enabled, containers and TTL nodes reaped every
/// second, 1 MiB frames, seed from `ZK_TEST_SEED` or random.
#[derive(Debug, Clone)]
pub struct TestServerBuilder {
    pub(crate) config: Config,
    seed: Option<u64>,
    read_only: bool,
}

impl TestServerBuilder {
    /// Listen on this address (port 0 picks a free one).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.config.addr = Some(addr);
        self
    }

    /// Also serve TLS, on `127.0.0.1` on a free port ([`TestServer::tls_addr`]), as a real
    /// server does on its `secureClientPort` (feature `tls`). The frames inside are the same;
    /// sessions move freely between the plain and the TLS listener.
    ///
    /// Unlike ZooKeeper, the embedded server does not turn a client certificate into an
    /// `x509:` identity: it checks the certificate (with [`ClientAuth::Want`] or
    /// [`ClientAuth::Need`](crate::tls::ClientAuth::Need)) but ACLs cannot name it.
    ///
    /// [`ClientAuth::Want`]: crate::tls::ClientAuth::Want
    #[cfg(feature = "tls")]
    pub fn tls(self, tls: crate::tls::ServerTls) -> Self {
        self.tls_at(SocketAddr::from(([127, 0, 0, 1], 0)), tls)
    }

    /// As [`tls`](Self::tls), listening on `addr` (port 0 picks a free one).
    #[cfg(feature = "tls")]
    pub fn tls_at(mut self, addr: SocketAddr, tls: crate::tls::ServerTls) -> Self {
        self.config.tls = Some((addr, tls));
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

    /// Behave as this ZooKeeper release where releases differ (default 3.8.0, Debian 12's;
    /// see [`ServerVersion`](crate::ServerVersion) for what differs).
    pub fn version(mut self, version: crate::ServerVersion) -> Self {
        self.config.version = version;
        self
    }

    /// Accepts SASL DIGEST-MD5 logins of `username` with `password` (a `user_<name>` line of
    /// ZooKeeper's JAAS `Server` section); the connection is then known as `sasl:<username>`.
    /// Without any user, SASL requests get AUTHFAILED and the connection closes.
    pub fn sasl_user(mut self, username: &str, password: &str) -> Self {
        self.config.sasl_users.insert(username.to_owned(), password.to_owned());
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

    async fn start_with(mut self, restored: Option<(State, Vec<SavedSession>)>) -> io::Result<TestServer> {
        let (state, saved) = match restored {
            Some((state, saved)) => (Some(state), saved),
            None => (None, Vec::new()),
        };
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
        #[cfg(feature = "tls")]
        let tls_listener = match &mut self.config.tls {
            Some((addr, tls)) => {
                let listener = TcpListener::bind(*addr).await?;
                *addr = listener.local_addr()?;
                Some((listener, tls.clone()))
            }
            None => None,
        };
        let state = state.unwrap_or_else(|| State::new(self.config.state_config()));
        let mut sessions = Sessions::new(self.config.tick, start, &mut rng);
        sessions.restore(&saved, start);
        let sessions = SessionTable::new(sessions);
        let mut core = Core::new(state, sessions, Commit::Now, rng, self.config.sasl_users.clone());
        core.read_only = self.read_only;
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
        #[cfg(feature = "tls")]
        if let Some((listener, tls)) = tls_listener {
            server.serve_tls(listener, tls);
        }
        Ok(server)
    }
}

pub(crate) fn seed_from_env() -> Option<u64> {
    std::env::var("ZK_TEST_SEED").ok()?.trim().parse().ok()
}

pub(crate) fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl TestServerBuilder {
    /// Starts a server whose tree, zxid, ephemerals and sessions come from a
    /// [`TestServer::snapshot`]: each session gets a full timeout from the start, so its client can
    /// resume it, as after a real server's restart.
    ///
    /// # Errors
    /// `InvalidData` for bytes that are not a snapshot; bind errors as [`Self::start`].
    pub async fn start_from(self, snapshot: &[u8]) -> io::Result<TestServer> {
        let restored = State::restore_with(snapshot, self.config.state_config())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.start_with(Some(restored)).await
    }
}

impl TestServer {
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
                sasl_users: HashMap::new(),
                version: crate::ServerVersion::default(),
                epoch_ms: None,
                #[cfg(feature = "tls")]
                tls: None,
            },
            seed: None,
            read_only: false,
        }
    }
}
