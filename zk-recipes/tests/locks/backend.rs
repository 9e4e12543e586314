//! Helpers for the lock tests that run over TCP with real time on both backends: the shared
//! real ZooKeeper 3.8 and a fresh embedded server per test ([`zk_testing::Backend`]). Each
//! scenario is one async function taking a [`Backend`]; [`zk_testing::both_backends!`]
//! generates a `real` and an `embedded` test for each, and [`Backend::create_root`] gives
//! each test its own `/locks-<test>-...` root.

use std::time::Duration;

use zk_core::Client;
pub(crate) use zk_testing::Backend;
use zk_testing::TcpProxy;

use crate::support::within;

/// A client connected through `proxy` (default session timeout; connecting bounded by 10 s).
pub(crate) async fn client_via(proxy: &TcpProxy) -> Client {
    within(10, "connect via proxy", Client::connect(&proxy.connect_string())).await.expect("connect")
}

/// A client with the shortest session timeout the real server grants (4 s: twice its 2 s
/// tick), connected to `connect` (bounded by 10 s).
pub(crate) async fn short_client(connect: &str) -> Client {
    let builder = Client::builder(connect).session_timeout(Duration::from_secs(4));
    within(10, "connect", builder.connect()).await.expect("connect")
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
