//! Backends for the lock tests that run over TCP with real time: the shared real ZooKeeper 3.8
//! ([`RealZooKeeper::shared`]) and a fresh embedded [`TestServer`] per test. Each scenario is
//! one async function taking a [`Backend`]; the `both!` macro generates a `real` and an
//! `embedded` test for each (as zk-testing's conformance suite does).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zk_core::{Client, CreateMode};
use zk_testing::{RealZooKeeper, TcpProxy, TestServer};

/// How long starting the real ZooKeeper (a JVM) may take.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Something that serves ZooKeeper on a loopback address.
#[derive(Debug)]
pub(crate) struct Backend {
    name: &'static str,
    connect: String,
    addr: std::net::SocketAddr,
    /// The embedded server, owned by the test (it lives on the test's runtime).
    _server: Option<TestServer>,
}

/// Generates one `#[tokio::test]` per scenario and backend, in `mod real` and `mod embedded`:
/// `both!(mutual_exclusion);` expects `async fn mutual_exclusion(b: &Backend)`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(&crate::backend::Backend::real().await).await
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(&crate::backend::Backend::embedded().await).await
                }
            )*
        }
    };
}

impl Backend {
    /// The shared real ZooKeeper of this test process (started on first use).
    pub(crate) async fn real() -> Backend {
        let zk = tokio::time::timeout(START_TIMEOUT, RealZooKeeper::shared())
            .await
            .expect("the real ZooKeeper did not start in time")
            .unwrap_or_else(|e| {
                panic!("cannot start a real ZooKeeper: {e}; run `bash scripts/zookeeper.sh` to install it")
            });
        Backend { name: "real", connect: zk.connect_string(), addr: zk.addr(), _server: None }
    }

    /// A fresh embedded server for this test, over TCP on loopback like the real one.
    pub(crate) async fn embedded() -> Backend {
        let server = TestServer::start().await.expect("start the embedded server");
        let addr = server.addr().expect("TCP address");
        Backend { name: "embedded", connect: server.connect_string(), addr, _server: Some(server) }
    }

    /// "real" or "embedded".
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The backend's connect string (no chroot).
    pub(crate) fn connect_string(&self) -> String {
        self.connect.clone()
    }

    /// A fault-injecting proxy in front of this backend.
    pub(crate) async fn proxy(&self) -> TcpProxy {
        TcpProxy::start(self.addr).await.expect("start proxy")
    }

    /// A client connected directly to the backend (default session timeout).
    pub(crate) async fn client(&self) -> Client {
        within(10, "connect", Client::connect(&self.connect)).await.expect("connect")
    }

    /// A client connected through `proxy` (default session timeout).
    pub(crate) async fn client_via(&self, proxy: &TcpProxy) -> Client {
        within(10, "connect via proxy", Client::connect(&proxy.connect_string())).await.expect("connect")
    }

    /// A client with the shortest session timeout the real server grants (4 s: twice its
    /// 2 s tick), connected to `connect`.
    pub(crate) async fn short_client(&self, connect: &str) -> Client {
        let builder = Client::builder(connect).session_timeout(Duration::from_secs(4));
        within(10, "connect", builder.connect()).await.expect("connect")
    }

    /// A fresh persistent root for one test (`/locks-<test>-<pid>-<nanos>-<n>`), so tests
    /// sharing the real server never see each other's nodes.
    pub(crate) async fn sandbox(&self, test: &str) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let root = format!("/locks-{test}-{}-{nanos}-{n}", std::process::id());
        let c = self.client().await;
        c.create(&root, b"", CreateMode::Persistent)
            .await
            .unwrap_or_else(|e| panic!("create sandbox {root}: {e}"));
        c.close().await;
        root
    }
}

/// Waits (bounded) for `fut`, failing the test with `what` on timeout.
pub(crate) async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out ({secs} s): {what}"))
}

/// The children of `path` (none when it does not exist), sorted by name.
pub(crate) async fn children(c: &Client, path: &str) -> Vec<String> {
    match c.get_children(path).await {
        Ok(mut v) => {
            v.sort();
            v
        }
        Err(zk_core::Error::NoNode) => Vec::new(),
        Err(e) => panic!("get_children {path}: {e}"),
    }
}

/// The children of `path` that are ephemerals of session `id`.
pub(crate) async fn children_of(c: &Client, path: &str, id: i64) -> Vec<String> {
    let mut out = Vec::new();
    for child in children(c, path).await {
        if let Ok(Some(stat)) = c.exists(&format!("{path}/{child}")).await {
            if stat.ephemeral_owner == id {
                out.push(child);
            }
        }
    }
    out
}

/// Polls `cond` every 20 ms for at most `secs` seconds; panics with `what` if it never holds.
pub(crate) async fn eventually<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
