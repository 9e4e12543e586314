//! Backends and per-test sandboxes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zk_core::{Client, CreateMode, Error};
use zk_testing::{RealZooKeeper, TcpProxy, TestServer};

/// Something that serves ZooKeeper on a loopback address.
#[derive(Debug)]
pub(crate) struct Backend {
    name: &'static str,
    connect: String,
    addr: std::net::SocketAddr,
    /// The embedded server, owned by the test (it lives on the test's runtime).
    _server: Option<TestServer>,
}

/// Generates one `#[tokio::test]` per scenario and backend:
/// `conformance!(create_modes, delete_errors);` expects `async fn create_modes(b: &Backend)`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&crate::support::Backend::real().await).await
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&crate::support::Backend::embedded().await).await
                }
            )*
        }
    };
}

impl Backend {
    /// The shared real ZooKeeper of this test process (started on first use).
    pub(crate) async fn real() -> Backend {
        let zk = RealZooKeeper::shared().await.expect("start the real ZooKeeper (bash scripts/zookeeper.sh)");
        Backend { name: "real", connect: zk.connect_string(), addr: zk.addr(), _server: None }
    }

    /// A fresh embedded server for this test, over TCP on loopback like the real one.
    pub(crate) async fn embedded() -> Backend {
        let server = TestServer::start().await.expect("start the embedded server");
        let addr = server.addr().expect("TCP address");
        Backend { name: "embedded", connect: server.connect_string(), addr, _server: Some(server) }
    }

    /// "real" or "embedded".
    #[allow(dead_code)]
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The server's version from `srvr` (e.g. `(3, 8, 0)`), `None` when it does not report
    /// one (for assertions on behaviour that changed between ZooKeeper releases).
    pub(crate) async fn server_version(&self) -> Option<(u32, u32, u32)> {
        let srvr = zk_testing::four_letter_word(self.addr, "srvr").await.ok()?;
        let version = srvr.lines().find_map(|l| l.strip_prefix("Zookeeper version: "))?;
        let mut numbers = version.split(|ch: char| !ch.is_ascii_digit()).map(|n| n.parse().ok());
        Some((numbers.next()??, numbers.next()??, numbers.next()??))
    }

    /// The backend's own connect string (no chroot).
    pub(crate) fn connect_string(&self) -> String {
        self.connect.clone()
    }

    /// A fault-injecting proxy in front of this backend.
    pub(crate) async fn proxy(&self) -> TcpProxy {
        TcpProxy::start(self.addr).await.expect("start proxy")
    }

    /// A fresh, empty subtree for one test, so tests sharing a server never see each other.
    pub(crate) async fn sandbox(&self, test: &str) -> Sandbox {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let root = format!("/conformance-{test}-{}-{nanos}-{n}", std::process::id());
        let c = Client::connect(&self.connect).await.expect("connect for sandbox");
        match c.create(&root, b"", CreateMode::Persistent).await {
            Ok(_) | Err(Error::NodeExists) => {}
            Err(e) => panic!("create sandbox {root}: {e}"),
        }
        c.close().await;
        Sandbox { root, connect: self.connect.clone() }
    }
}

/// A per-test subtree; clients made from it are chrooted into it.
#[derive(Debug)]
pub(crate) struct Sandbox {
    /// The subtree's absolute path on the server.
    pub(crate) root: String,
    connect: String,
}

impl Sandbox {
    /// The chrooted connect string (direct to the backend).
    pub(crate) fn connect_string(&self) -> String {
        format!("{}{}", self.connect, self.root)
    }

    /// The chrooted connect string through `proxy`.
    pub(crate) fn via(&self, proxy: &TcpProxy) -> String {
        format!("{}{}", proxy.connect_string(), self.root)
    }

    /// A client chrooted into the sandbox.
    pub(crate) async fn client(&self) -> Client {
        Client::connect(&self.connect_string()).await.expect("connect")
    }

    /// A client chrooted into the sandbox with a short (4 s, the real server's minimum with
    /// its 2 s tick) session timeout, for expiry tests.
    #[allow(dead_code)]
    pub(crate) async fn short_client(&self, connect: &str) -> Client {
        Client::builder(connect).session_timeout(Duration::from_secs(4)).connect().await.expect("connect")
    }
}

/// Waits (bounded) for `fut`, failing the test with `what` on timeout.
#[allow(dead_code)]
pub(crate) async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Asserts that `r` failed with exactly `expected`; `what` names the call.
pub(crate) fn expect_err<T: std::fmt::Debug>(what: &str, r: Result<T, Error>, expected: Error) {
    match r {
        Err(e) => assert_eq!(e, expected, "{what}"),
        Ok(v) => panic!("{what}: expected {expected:?}, got Ok({v:?})"),
    }
}

/// Waits (at most 5 s) for a one-shot watcher to fire.
pub(crate) async fn fired(w: zk_core::OneshotWatcher, what: &str) -> zk_core::WatchedEvent {
    within(5, what, w).await.unwrap_or_else(|e| panic!("{what}: watcher failed: {e}"))
}

/// Asserts an event's type and (client) path.
pub(crate) fn assert_event(ev: &zk_core::WatchedEvent, event_type: zk_core::EventType, path: &str) {
    assert_eq!((ev.event_type, ev.path.as_str()), (event_type, path), "unexpected event {ev:?}");
}
