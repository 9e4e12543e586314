//! One scenario, several servers: [`Backend`] is the shared real ZooKeeper, the shared real
//! 3-member ensemble, or a fresh embedded [`TestServer`], all over TCP on loopback;
//! [`both_backends!`](crate::both_backends) turns each scenario into one test per standalone
//! backend, and [`on_ensemble!`](crate::on_ensemble) into one more on the ensemble.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zk_core::{Client, CreateMode, Error};

use crate::{RealEnsemble, RealZooKeeper, TcpProxy, TestEnsemble, TestServer};

/// How long starting the real ZooKeeper (a JVM) may take.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a connection made by the helpers may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which server a [`Backend`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The shared real ZooKeeper 3.8 ([`RealZooKeeper::shared`]).
    Real,
    /// An embedded [`TestServer`] owned by the test.
    Embedded,
    /// The shared real 3-member ZooKeeper 3.8 ensemble ([`RealEnsemble::shared`]).
    RealEnsemble,
    /// An embedded 3-member [`TestEnsemble`] owned by the test, over TCP.
    EmbeddedEnsemble,
}

/// Something that serves ZooKeeper on a loopback address, for tests that run one scenario
/// against both servers. The helpers panic on failure: they are meant for test bodies.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let b = zk_testing::Backend::embedded().await;
/// let sandbox = b.sandbox("doc").await;
/// let client = sandbox.client().await;
/// assert!(client.exists("/").await.unwrap().is_some());
/// assert_eq!(b.name(), "embedded");
/// # });
/// ```
#[derive(Debug)]
pub struct Backend {
    kind: BackendKind,
    connect: String,
    addr: SocketAddr,
    /// An ensemble's members, one of which each sandbox's clients all use.
    members: Vec<String>,
    /// The embedded server, owned by the test (it lives on the test's runtime).
    _server: Option<TestServer>,
    /// The embedded ensemble, owned by the test.
    _ensemble: Option<TestEnsemble>,
}

impl Backend {
    /// The shared real ZooKeeper of this test process (started on first use).
    ///
    /// # Panics
    ///
    /// When it does not start within two minutes or cannot start (the message says to run
    /// `bash scripts/zookeeper.sh`).
    pub async fn real() -> Backend {
        let zk = tokio::time::timeout(START_TIMEOUT, RealZooKeeper::shared())
            .await
            .expect("the real ZooKeeper did not start in time")
            .unwrap_or_else(|e| {
                panic!("cannot start a real ZooKeeper: {e}; run `bash scripts/zookeeper.sh` to install it")
            });
        Backend {
            kind: BackendKind::Real,
            connect: zk.connect_string(),
            addr: zk.addr(),
            members: Vec::new(),
            _server: None,
            _ensemble: None,
        }
    }

    /// The shared real 3-member ensemble of this test process (started on first use).
    /// [`client`](Self::client) gets every member in its connect string, so its reads may come
    /// from a follower that is behind (`sync` before reading another session's writes). The
    /// clients of one [`sandbox`](Self::sandbox) all use one member, the next sandbox's the
    /// next member, so that a scenario's clients see one order of changes, as on a single
    /// server, while the scenarios together run on followers and the leader.
    /// [`addr`](Self::addr) and [`proxy`](Self::proxy) are the first member's.
    ///
    /// # Panics
    ///
    /// When it does not start within two minutes or cannot start.
    pub async fn real_ensemble() -> Backend {
        let zk = tokio::time::timeout(START_TIMEOUT, RealEnsemble::shared())
            .await
            .expect("the real ensemble did not start in time")
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start a real ensemble: {e}; run `bash scripts/zookeeper.sh` to install ZooKeeper"
                )
            });
        let members = (0..zk.size()).map(|i| zk.member_addr(i).to_string()).collect();
        Backend {
            kind: BackendKind::RealEnsemble,
            connect: zk.connect_string(),
            addr: zk.member_addr(0),
            members,
            _server: None,
            _ensemble: None,
        }
    }

    /// A fresh embedded server for this test, over TCP on loopback like the real one. It
    /// stops when the `Backend` is dropped.
    ///
    /// # Panics
    ///
    /// When the server cannot start.
    pub async fn embedded() -> Backend {
        let server = TestServer::start().await.expect("start the embedded server");
        let addr = server.addr().expect("TCP address");
        Backend {
            kind: BackendKind::Embedded,
            connect: server.connect_string(),
            addr,
            members: Vec::new(),
            _server: Some(server),
            _ensemble: None,
        }
    }

    /// A fresh embedded 3-member ensemble for this test, over TCP on loopback, whose members
    /// apply each transaction up to 2 ms after its commit (drawn from the seed). As with
    /// [`real_ensemble`](Self::real_ensemble), each sandbox's clients use one member, the
    /// sandboxes rotating over the members. It stops when the `Backend` is dropped.
    ///
    /// # Panics
    ///
    /// When the ensemble cannot start.
    pub async fn embedded_ensemble() -> Backend {
        let ens = TestEnsemble::builder()
            .random_lag(Duration::from_millis(2))
            .start()
            .await
            .expect("start the embedded ensemble");
        let members: Vec<String> =
            (0..ens.size()).filter_map(|i| ens.member_addr(i)).map(|a| a.to_string()).collect();
        Backend {
            kind: BackendKind::EmbeddedEnsemble,
            connect: ens.connect_string(),
            addr: ens.member_addr(0).expect("TCP address"),
            members,
            _server: None,
            _ensemble: Some(ens),
        }
    }

    /// Which server this is.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// `"real"`, `"embedded"`, `"ensemble"` or `"embedded-ensemble"`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            BackendKind::Real => "real",
            BackendKind::Embedded => "embedded",
            BackendKind::RealEnsemble => "ensemble",
            BackendKind::EmbeddedEnsemble => "embedded-ensemble",
        }
    }

    /// The backend's own connect string (no chroot).
    pub fn connect_string(&self) -> String {
        self.connect.clone()
    }

    /// The backend's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A fault-injecting proxy in front of this backend.
    ///
    /// # Panics
    ///
    /// When the proxy cannot start.
    pub async fn proxy(&self) -> TcpProxy {
        TcpProxy::start(self.addr).await.expect("start proxy")
    }

    /// The server's version from `srvr` (e.g. `(3, 8, 0)`), `None` when it does not report
    /// one (for assertions on behaviour that changed between ZooKeeper releases).
    pub async fn server_version(&self) -> Option<(u32, u32, u32)> {
        let srvr = crate::four_letter_word(self.addr, "srvr").await.ok()?;
        let version = srvr.lines().find_map(|l| l.strip_prefix("Zookeeper version: "))?;
        let mut numbers = version.split(|ch: char| !ch.is_ascii_digit()).map(|n| n.parse().ok());
        Some((numbers.next()??, numbers.next()??, numbers.next()??))
    }

    /// A path no other test of any process uses: `/<name>-<pid>-<nanos>-<n>`.
    pub fn unique_root(name: &str) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        format!("/{name}-{}-{nanos}-{n}", std::process::id())
    }

    /// A client connected to the backend itself (no chroot), with default options.
    ///
    /// # Panics
    ///
    /// When the connection fails, or is not established within 10 s (the message names the
    /// connect string).
    pub async fn client(&self) -> Client {
        tokio::time::timeout(CONNECT_TIMEOUT, Client::connect(&self.connect))
            .await
            .unwrap_or_else(|_| panic!("timed out after {CONNECT_TIMEOUT:?}: connect to {}", self.connect))
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.connect))
    }

    /// Creates a fresh persistent [`unique_root`](Self::unique_root) for one test, so tests
    /// sharing a server never see each other's nodes, and returns its path.
    ///
    /// # Panics
    ///
    /// When connecting (bounded by 10 s, as [`client`](Self::client)) or creating the node
    /// fails.
    pub async fn create_root(&self, name: &str) -> String {
        let root = Self::unique_root(name);
        let c = self.client().await;
        match c.create(&root, b"", CreateMode::Persistent).await {
            Ok(_) | Err(Error::NodeExists) => {}
            Err(e) => panic!("create sandbox {root}: {e}"),
        }
        c.close().await;
        root
    }

    /// A fresh, empty subtree ([`create_root`](Self::create_root)) whose clients are chrooted
    /// into it. On an ensemble the subtree is created through, and its clients connect to,
    /// one member (the next one for each sandbox).
    pub async fn sandbox(&self, name: &str) -> Sandbox {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        if self.members.is_empty() {
            return Sandbox { root: self.create_root(name).await, connect: self.connect.clone() };
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed) as usize;
        let member = Backend {
            kind: self.kind,
            connect: self.members[n % self.members.len()].clone(),
            addr: self.addr,
            members: Vec::new(),
            _server: None,
            _ensemble: None,
        };
        Sandbox { root: member.create_root(name).await, connect: member.connect }
    }
}

/// A per-test subtree of a [`Backend`]; clients made from it are chrooted into it.
#[derive(Debug)]
pub struct Sandbox {
    root: String,
    connect: String,
}

impl Sandbox {
    /// The subtree's absolute path on the server.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The chrooted connect string (direct to the backend).
    pub fn connect_string(&self) -> String {
        format!("{}{}", self.connect, self.root)
    }

    /// The chrooted connect string through `proxy`.
    pub fn via(&self, proxy: &TcpProxy) -> String {
        format!("{}{}", proxy.connect_string(), self.root)
    }

    /// A client chrooted into the sandbox.
    ///
    /// # Panics
    ///
    /// When it cannot connect.
    pub async fn client(&self) -> Client {
        Client::connect(&self.connect_string()).await.expect("connect")
    }
}

/// Generates one `#[tokio::test]` per scenario and backend, in `mod real` and `mod embedded`
/// (so the tests are named `real::<scenario>` and `embedded::<scenario>`):
/// `both_backends!(create_modes, delete_errors);` expects
/// `async fn create_modes(b: &zk_testing::Backend)` next to the call. The tests run on a
/// multi-threaded runtime with 2 workers, or `both_backends!(worker_threads = 4; a, b)`.
/// The calling crate needs tokio with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! both_backends {
    (worker_threads = $threads:literal; $($name:ident),* $(,)?) => {
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    super::$name(&$crate::Backend::real().await).await
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    super::$name(&$crate::Backend::embedded().await).await
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::both_backends!(worker_threads = 2; $($name),*);
    };
}

/// Generates two more `#[tokio::test]`s per scenario, on ensembles: the shared real 3-member
/// one ([`Backend::real_ensemble`]), in `mod ensemble` (tests named `ensemble::<scenario>`),
/// and an embedded one of the test's own ([`Backend::embedded_ensemble`]), in
/// `mod embedded_ensemble`; for scenarios that also run with [`both_backends!`] and hold on
/// an ensemble.
#[macro_export]
macro_rules! on_ensemble {
    ($($name:ident),* $(,)?) => {
        mod ensemble {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&$crate::Backend::real_ensemble().await).await
                }
            )*
        }
        mod embedded_ensemble {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&$crate::Backend::embedded_ensemble().await).await
                }
            )*
        }
    };
}

/// [`both_backends!`] and [`on_ensemble!`] for the same scenarios: one test per scenario on
/// the real server, the embedded one and the shared real ensemble.
#[macro_export]
macro_rules! all_backends {
    ($($name:ident),* $(,)?) => {
        $crate::both_backends!($($name),*);
        $crate::on_ensemble!($($name),*);
    };
}
